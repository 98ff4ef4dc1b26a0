"""Retention: remove old sealed history and record the removal in the ledger.

A version is removed when all of this holds:

* it is closed (``end_transaction_id`` set): a row's current version is
  never removed;
* its transaction was issued before the window (``keep_days`` before now);
* both it and the link that closed it are sealed (the ledger has digests of
  what is removed);
* it is not what ``last_modified_at`` derives from: the version (or
  association version) with the latest ``issued_at`` of its stamped row
  stays, so a full reconcile after a prune moves no stamp.

A transaction row is removed with the last of its versions. Each batch
removes at most ``batch_size`` versions and appends, in the same database
transaction, a prune block listing every removed element with the digest
it was sealed with. ``verify --integrity`` then accepts exactly those
elements as missing, and still checks everything that remains. A stopped
prune leaves whole batches; the next one carries on.

Writers are not disturbed: capture only ever touches a row's current
version, which is never removed.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from auditd import db
from auditd.capture import append_only
from auditd.errors import AlreadyRunningError, ConfigError
from auditd.ledger.blocks import (
    LEDGER_START,
    PrunedElement,
    encode_pruned,
    insert_block,
    latest_block,
    new_block,
)
from auditd.ledger.canonical import (
    link_element,
    transaction_element,
    version_element,
    version_table,
)
from auditd.models.audit import TRANSACTION
from auditd.models.ledger import LEDGER_BLOCK
from auditd.registry import Registry, VersionedTable, load, qualify
from auditd.stamps.derive import DerivedStamp, KeyRestriction, derived_by_key, derived_stamps
from auditd.timestamps import utcnow

__all__ = ["PruneOutcome", "prune"]

_ISSUED = "audittrail_issued_at"


@dataclass(frozen=True, kw_only=True)
class PruneOutcome:
    """What a prune removed (or, in a dry run, would remove), and the cutoff."""

    cutoff: datetime
    versions: int
    transactions: int
    blocks: int
    dry_run: bool


class _SealedRanges:
    """The seal blocks' transaction ranges, to find the block of a transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        rows = connection.execute(
            sa.select(LEDGER_BLOCK.c.last_transaction_id, LEDGER_BLOCK.c.number)
            .where(LEDGER_BLOCK.c.kind == "seal")
            .order_by(LEDGER_BLOCK.c.number)
        ).all()
        self._last = [int(row[0]) for row in rows]
        self._number = [int(row[1]) for row in rows]
        self.through = self._last[-1] if self._last else LEDGER_START

    def block_of(self, transaction_id: int) -> int:
        return self._number[bisect.bisect_left(self._last, transaction_id)]


def _stamp_sources(registry: Registry, entry: VersionedTable) -> list[tuple[DerivedStamp, str]]:
    """The stamps whose derivation reads ``entry``'s version table, with the
    column of that table holding the stamped row's key."""
    return [
        (stamp, source.column)
        for stamp in derived_stamps(registry)
        for source in stamp.sources
        if source.version_table == entry.version_table
    ]


def _candidates(
    connection: sa.Connection,
    entry: VersionedTable,
    cutoff: datetime,
    through: int,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The next ``limit`` closed, sealed versions issued before ``cutoff``, in
    (transaction, key) order after the cursor ``after``."""
    v = version_table(entry)
    order = (v.c.transaction_id, *(v.c[name] for name in entry.key))
    query = (
        sa.select(v, TRANSACTION.c.issued_at.label(_ISSUED))
        .join(TRANSACTION, TRANSACTION.c.id == v.c.transaction_id)
        .where(
            v.c.end_transaction_id.is_not(None),
            v.c.end_transaction_id <= through,
            v.c.transaction_id <= through,
            TRANSACTION.c.issued_at < cutoff,
        )
        .order_by(*order)
        .limit(limit)
    )
    if after is not None:
        query = query.where(sa.tuple_(*order) > sa.tuple_(*after))
    return [dict(row) for row in connection.execute(query).mappings()]


def _among(keys: list[Any]) -> KeyRestriction:
    def restrict(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        return column.in_(keys)

    return restrict


def _derivation_sources(
    connection: sa.Connection,
    sources: Sequence[tuple[DerivedStamp, str]],
    rows: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The rows that some stamp derives its value from (their issued_at is
    the latest of their stamped row's history)."""
    kept = []
    for stamp, column in sources:
        keys = sorted({row[column] for row in rows if row[column] is not None})
        if not keys:
            continue
        query = derived_by_key(stamp, _among(keys), connection.dialect.name)
        derived = {key: value for key, value in connection.execute(query)}
        kept += [
            row for row in rows if row[column] in derived and row[_ISSUED] >= derived[row[column]]
        ]
    return kept


def _remove_versions(
    connection: sa.Connection, entry: VersionedTable, rows: Sequence[dict[str, Any]]
) -> None:
    keys = [
        {**{name: row[name] for name in entry.key}, "transaction_id": row["transaction_id"]}
        for row in rows
    ]
    _remove(connection, entry, entry.version_table, keys)


def _remove(
    connection: sa.Connection, entry: VersionedTable, table: str, keys: list[dict[str, Any]]
) -> None:
    """Delete the rows of the history ``table`` with these primary keys, by
    the one sanctioned path past the append-only guards: on PostgreSQL the
    retention function, which runs with the audit owner's rights (so that
    the daemon's role can prune without holding them); on SQLite inside
    :func:`append_only.retention`. Raises :class:`AlreadyRunningError` when
    another prune removed some of them first (the batch is then rolled back)."""
    if not keys:
        return
    if connection.dialect.name == "postgresql":
        function = qualify(entry.audit_schema, append_only.RETENTION_FUNCTION_NAME)
        removed = connection.scalar(
            sa.text(f"SELECT {function}(:table, CAST(:keys AS jsonb))"),
            {"table": table, "keys": json.dumps(keys, default=str)},
        )
    else:
        history = sa.table(table, *(sa.column(name) for name in keys[0]))
        match = [history.c[name] == sa.bindparam(f"k_{name}") for name in keys[0]]
        with append_only.retention(connection, (table,)):
            result = connection.execute(
                sa.delete(history).where(*match),
                [{f"k_{name}": value for name, value in key.items()} for key in keys],
            )
        removed = result.rowcount
    if removed != len(keys):
        raise AlreadyRunningError(
            f"another prune removed part of this batch of {table} first",
            "run prune again: it carries on after the last whole batch",
        )


def _orphaned_transactions(
    connection: sa.Connection, registry: Registry, ids: Sequence[int], cutoff: datetime
) -> list[dict[str, Any]]:
    """The transaction rows among ``ids`` that no version refers to any more."""
    referenced = [
        sa.exists().where(version_table(entry).c.transaction_id == TRANSACTION.c.id)
        for entry in registry.entries
    ]
    query = sa.select(TRANSACTION).where(
        TRANSACTION.c.id.in_(sorted(set(ids))),
        TRANSACTION.c.issued_at < cutoff,
        *(~exists for exists in referenced),
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def prune(
    engine: sa.Engine,
    keep_days: int,
    batch_size: int,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[int], None] = lambda removed: None,
) -> PruneOutcome:
    """Remove the history older than ``keep_days`` that may go (see the module
    docstring), in batches of at most ``batch_size`` versions, each batch one
    transaction with its prune block. A dry run counts and changes nothing.

    Raises ConfigError when ``keep_days`` is not positive (retention off).
    """
    if keep_days <= 0:
        raise ConfigError(
            "retention is off (retention.keep_days is 0): prune needs a window",
            "set retention.keep_days to the days of history to keep",
        )
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    versions = transactions = blocks = 0
    touched: set[int] = set()
    with engine.connect() as connection:
        registry = load(connection)
    for entry in sorted(registry.entries, key=lambda e: e.table):
        sources = _stamp_sources(registry, entry)
        cursor: tuple[Any, ...] | None = None
        while not should_stop():
            opened = engine.begin() if dry_run else db.write_transaction(engine)
            with opened as connection:
                sealed = _SealedRanges(connection)
                rows = _candidates(connection, entry, cutoff, sealed.through, cursor, batch_size)
                if not rows:
                    break
                last = rows[-1]
                cursor = (last["transaction_id"], *(last[name] for name in entry.key))
                kept = {id(row) for row in _derivation_sources(connection, sources, rows)}
                removed = [row for row in rows if id(row) not in kept]
                if dry_run or not removed:
                    # A dry run reports the transactions the removable versions
                    # belong to, each once whichever batch or table it recurs in.
                    versions += len(removed)
                    touched.update(row["transaction_id"] for row in removed)
                    on_batch(versions)
                    continue
                _remove_versions(connection, entry, removed)
                gone = _orphaned_transactions(
                    connection, registry, [row["transaction_id"] for row in removed], cutoff
                )
                _remove(connection, entry, str(TRANSACTION.name), [{"id": r["id"]} for r in gone])
                record = _pruned_elements(entry, removed, gone, sealed)
                previous = latest_block(connection)
                assert previous is not None  # something was sealed, or nothing qualified
                block = new_block(
                    previous,
                    kind="prune",
                    first_transaction_id=min(row["transaction_id"] for row in removed),
                    last_transaction_id=previous.last_transaction_id,
                    transaction_count=len(gone),
                    version_count=len(removed),
                    manifest=encode_pruned(record),
                    sealed_at=utcnow(),
                )
                insert_block(connection, block)
            versions += len(removed)
            transactions += len(gone)
            blocks += 1
            on_batch(versions)
    if dry_run:
        transactions = len(touched)
    return PruneOutcome(
        cutoff=cutoff, versions=versions, transactions=transactions, blocks=blocks, dry_run=dry_run
    )


def _pruned_elements(
    entry: VersionedTable,
    removed: Sequence[dict[str, Any]],
    gone: Sequence[dict[str, Any]],
    sealed: _SealedRanges,
) -> list[PrunedElement]:
    """Each removed element with the block it was sealed in."""
    record = []
    for row in removed:
        version = {name: value for name, value in row.items() if name != _ISSUED}
        record.append(
            PrunedElement(
                block=sealed.block_of(row["transaction_id"]),
                element=version_element(entry, version),
            )
        )
        key = [row[name] for name in entry.key]
        record.append(
            PrunedElement(
                block=sealed.block_of(row["end_transaction_id"]),
                element=link_element(entry, key, row),
            )
        )
    record += [
        PrunedElement(block=sealed.block_of(int(row["id"])), element=transaction_element(row))
        for row in gone
    ]
    return record
