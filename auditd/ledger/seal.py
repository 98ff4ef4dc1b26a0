"""Sealing: append blocks over the committed transactions behind the horizon.

Each block takes up to ``block_size`` transactions after the last sealed
one, in id order, but only below the commit-order horizon
(:func:`auditd.stamps.horizon.read_horizon`): every transaction with a
smaller id has finished, so no transaction can later appear inside a sealed
range, and what a block covers no longer changes (on SQLite id order is
commit order, and the horizon is the next id).

Blocks are read in rounds, each in one snapshot (REPEATABLE READ, read-only
on PostgreSQL) without locking anything, so writers never wait for sealing;
on PostgreSQL several blocks of a round are read at once, the server
digesting their rows on several cores. Each block is appended in a short
transaction of its own, in order. Two sealers racing for the same block
number cannot both win: the block number is the primary key, and the loser
stops. An interrupted seal leaves whole blocks only; the next one resumes
after the last.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

import sqlalchemy as sa

from auditd import db
from auditd.ledger.blocks import LEDGER_START, Block, insert_block, latest_block, new_block
from auditd.ledger.parallel_reads import READERS, read_ranges
from auditd.models.audit import TRANSACTION
from auditd.registry import load
from auditd.stamps.horizon import read_horizon
from auditd.timestamps import utcnow

__all__ = ["SealOutcome", "seal", "snapshot"]


@dataclass(frozen=True, kw_only=True)
class SealOutcome:
    """The blocks one seal appended (oldest first), and where it stopped."""

    blocks: tuple[Block, ...]
    horizon: int

    @property
    def transactions(self) -> int:
        return sum(block.transaction_count for block in self.blocks)

    @property
    def versions(self) -> int:
        return sum(block.version_count for block in self.blocks)


def snapshot(engine: sa.Engine) -> sa.Engine:
    """``engine`` reading one consistent, read-only snapshot per transaction."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine


def _next_range(
    connection: sa.Connection, after: int, horizon: int, block_size: int
) -> tuple[int, int] | None:
    """(last id, count) of the next ``block_size`` transactions after ``after``
    and below ``horizon``, or None when there are none."""
    ids = (
        sa.select(TRANSACTION.c.id)
        .where(TRANSACTION.c.id > after, TRANSACTION.c.id < horizon)
        .order_by(TRANSACTION.c.id)
        .limit(block_size)
        .subquery()
    )
    last, count = connection.execute(sa.select(sa.func.max(ids.c.id), sa.func.count())).one()
    return None if not count else (int(last), int(count))


# Blocks planned per snapshot: enough to keep the readers busy, few enough
# that a stop request is soon honoured and the snapshot is short.
BLOCKS_PER_ROUND = 16


def _plan(
    connection: sa.Connection, block_size: int
) -> tuple[Block | None, int, list[tuple[int, int, int]]]:
    """The latest block, the horizon and up to :data:`BLOCKS_PER_ROUND` next
    ranges ``(after, through, count)`` behind it."""
    horizon = read_horizon(connection)  # first: the snapshot is taken here
    previous = latest_block(connection)
    after = LEDGER_START if previous is None else previous.last_transaction_id
    ranges: list[tuple[int, int, int]] = []
    while len(ranges) < BLOCKS_PER_ROUND:
        found = _next_range(connection, after, horizon, block_size)
        if found is None:
            break
        through, count = found
        ranges.append((after, through, count))
        after = through
    return previous, horizon, ranges


def _append(engine: sa.Engine, previous: Block | None, block: Block) -> bool:
    """Append ``block`` after ``previous`` in a transaction of its own; False
    when the ledger's head is no longer ``previous`` (another sealer or a
    prune came first) and nothing was written."""
    with db.write_transaction(engine) as connection:
        head = latest_block(connection)
        if (head and (head.number, head.hash)) != (previous and (previous.number, previous.hash)):
            return False
        try:
            with connection.begin_nested():
                insert_block(connection, block)
        except sa.exc.IntegrityError:
            return False
    return True


def seal(
    engine: sa.Engine,
    block_size: int,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_block: Callable[[Block], None] = lambda block: None,
    readers: int = READERS,
) -> SealOutcome:
    """Seal every transaction behind the horizon, block after block, until
    none is left, another sealer appends first, or ``should_stop()`` says so
    (checked between blocks).

    The blocks of a round are read ahead on up to ``readers`` connections
    sharing the round's snapshot (:mod:`auditd.ledger.parallel_reads`) and
    appended in order, each in a transaction of its own. ``on_block`` is
    called after each block is committed. Raises SQLAlchemy's
    ``OperationalError`` when the database is unreachable; committed blocks
    stay.
    """
    blocks: list[Block] = []
    horizon = 0
    while not should_stop():
        with snapshot(engine).connect() as connection, connection.begin():
            previous, horizon, ranges = _plan(connection, block_size)
            if not ranges:
                break
            entries = load(connection).entries
            wanted = [(after, through) for after, through, _count in ranges]
            with closing(read_ranges(connection, entries, wanted, readers=readers)) as contents:
                for (after, through, count), content in zip(ranges, contents, strict=False):
                    block = new_block(
                        previous,
                        kind="seal",
                        first_transaction_id=after,
                        last_transaction_id=through,
                        transaction_count=content.transaction_count,
                        version_count=content.version_count,
                        manifest=content.manifest,
                        sealed_at=utcnow(),
                    )
                    assert block.transaction_count == count
                    if not _append(engine, previous, block):
                        return SealOutcome(blocks=tuple(blocks), horizon=horizon)
                    blocks.append(block)
                    on_block(block)
                    previous = block
                    if should_stop():
                        break
    return SealOutcome(blocks=tuple(blocks), horizon=horizon)
