"""Sealing: append blocks over the committed transactions behind the horizon.

Each block takes up to ``block_size`` transactions after the last sealed
one, in id order, and no more of them than hold :data:`VERSIONS_PER_BLOCK`
versions (unless one transaction alone holds more: a transaction is never
split), but only below the commit-order horizon
(:func:`auditd.stamps.horizon.read_horizon`): every transaction with a
smaller id has finished, so no transaction can later appear inside a sealed
range, and what a block covers no longer changes (on SQLite id order is
commit order, and the horizon is the next id).

Blocks are read in rounds, each in one snapshot (REPEATABLE READ, read-only
on PostgreSQL) without locking anything, so writers never wait for sealing;
several blocks of a round are read at once, their rows digested on several
cores (by the server on PostgreSQL, by worker processes on SQLite). Each
block is appended in a short transaction of its own, in order. Two sealers
racing for the same block number cannot both win: the block number is the
primary key, and the loser stops. An interrupted seal leaves whole blocks
only; the next one resumes after the last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass

import sqlalchemy as sa

from auditd import db
from auditd.ledger.blocks import LEDGER_START, Block, insert_block, latest_block, new_block
from auditd.ledger.canonical import version_table
from auditd.ledger.parallel_reads import READERS, read_ranges
from auditd.models.audit import TRANSACTION
from auditd.registry import VersionedTable, load
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


def _versions_in(
    connection: sa.Connection, entries: Sequence[VersionedTable], after: int, through: int
) -> int:
    """How many versions the transactions with ids in ``(after, through]``
    wrote, in one statement (an index range count per version table)."""
    counts = []
    for entry in entries:
        version = version_table(entry)
        in_range = sa.and_(version.c.transaction_id > after, version.c.transaction_id <= through)
        counts.append(sa.select(sa.func.count()).where(in_range).scalar_subquery())
    return int(connection.scalar(sa.select(sum(counts, sa.literal(0)))) or 0)


# Blocks planned per snapshot: enough to keep the readers busy, few enough
# that a stop request is soon honoured and the snapshot is short.
BLOCKS_PER_ROUND = 16
# A block's manifest is built in memory, and blocks are what the readers
# share: history of a few large transactions (a bulk import, one UPDATE of
# many rows) must not become one block read on one connection.
VERSIONS_PER_BLOCK = 50_000


@dataclass
class _Plan:
    """The latest block, the horizon, the next ranges ``(after, through,
    count)`` behind it, and the transactions per block to start the next
    round with."""

    previous: Block | None
    horizon: int
    ranges: list[tuple[int, int, int]]
    limit: int


def _plan(
    connection: sa.Connection,
    entries: Sequence[VersionedTable],
    block_size: int,
    limit: int,
    max_versions: int,
) -> _Plan:
    """Up to :data:`BLOCKS_PER_ROUND` ranges of at most ``block_size``
    transactions and ``max_versions`` versions (or one transaction), starting
    from ``limit`` transactions per block: the last round's, so that a
    history of large transactions is not counted in blocks of ``block_size``
    over and over."""
    horizon = read_horizon(connection)  # first: the snapshot is taken here
    if connection.dialect.name == "postgresql":
        # The counts read a block's slice of each version table through its
        # index: stale statistics must not make them scans of whole tables.
        connection.execute(sa.select(sa.func.set_config("enable_seqscan", "off", True)))
    previous = latest_block(connection)
    after = LEDGER_START if previous is None else previous.last_transaction_id
    ranges: list[tuple[int, int, int]] = []
    while len(ranges) < BLOCKS_PER_ROUND:
        found = _next_range(connection, after, horizon, limit)
        if found is None:
            break
        through, count = found
        versions = _versions_in(connection, entries, after, through)
        if versions > max_versions and count > 1:
            limit = max(1, count * max_versions // versions)  # fewer, and try again
            continue
        ranges.append((after, through, count))
        after = through
        if versions * 4 < max_versions:
            limit = min(block_size, limit * 2)
    return _Plan(previous, horizon, ranges, limit)


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
    max_versions: int = VERSIONS_PER_BLOCK,
) -> SealOutcome:
    """Seal every transaction behind the horizon, block after block, until
    none is left, another sealer appends first, or ``should_stop()`` says so
    (checked between blocks).

    Blocks hold at most ``max_versions`` versions, or one transaction that
    holds more. The blocks of a round are read ahead by up to ``readers`` readers
    (:mod:`auditd.ledger.parallel_reads`), as the round's snapshot sees them, and
    appended in order, each in a transaction of its own. ``on_block`` is
    called after each block is committed. Raises SQLAlchemy's
    ``OperationalError`` when the database is unreachable; committed blocks
    stay.
    """
    blocks: list[Block] = []
    horizon, limit = 0, block_size
    while not should_stop():
        with snapshot(engine).connect() as connection, connection.begin():
            entries = load(connection).entries
            plan = _plan(connection, entries, block_size, limit, max_versions)
            previous, horizon, ranges, limit = plan.previous, plan.horizon, plan.ranges, plan.limit
            if not ranges:
                break
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
