"""Repair and count drift of derived stamps, one bounded batch per transaction.

A batch is a set of primary keys of one stamped table. :func:`count_batch`
compares their stored ``last_modified_at`` with the value derived from
history (:mod:`auditd.stamps.derive`) in one set-based statement;
:func:`repair_batch` does the same, then locks the drifted rows and repairs
them with one set-based UPDATE. Nothing here knows about schedules, runs or watermarks: callers
pass an ``in_transaction`` hook to record their bookkeeping atomically with
the batch.

Why a repair is safe under concurrency (PostgreSQL, READ COMMITTED):

1. The drifted rows are locked, ``FOR NO KEY UPDATE SKIP LOCKED``.
   A row that another transaction has locked (a user writing it right now)
   is skipped, never waited for, so a repair cannot block the application
   or deadlock with it; the caller picks skipped rows up later.
2. The UPDATE runs after the lock, in a new statement snapshot, so the
   derivation sees every transaction that committed before we locked. Any
   later change of a locked row has to wait for our commit: it then stamps
   the row itself (capture triggers), with a newer value. A repair therefore
   never overwrites a user's newer stamp with an older one.
3. The UPDATE sets only the stamp column. The capture triggers compare the
   versioned columns, which exclude it, so a repair writes no version and no
   transaction row, and a second pass finds nothing to do.

On SQLite the batch runs under the database's single write lock
(``BEGIN IMMEDIATE``), which excludes every other writer for its duration.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from auditd import db
from auditd.stamps.derive import (
    DerivedStamp,
    HistoryBound,
    KeyRestriction,
    derived_by_key,
    stamp_update,
)

__all__ = [
    "BatchOutcome",
    "batch_settings",
    "count_batch",
    "count_rows",
    "key_batches",
    "repair_batch",
]


@dataclass(frozen=True, kw_only=True)
class BatchOutcome:
    """What one batch found and did.

    ``scanned``: keys that still exist; ``drifted_keys``: rows whose stored
    value differs from the derived one (on repair, the drifted rows that were
    locked and fixed, so as many as ``repaired``); ``skipped``: keys locked
    by another transaction, left for later; ``unversioned``: rows with no
    history, which derive nothing and are left alone.
    """

    table: str
    scanned: int = 0
    repaired: int = 0
    unversioned: int = 0
    skipped: tuple[int, ...] = ()
    drifted_keys: tuple[int, ...] = field(default=(), repr=False)

    @property
    def drifted(self) -> int:
        return len(self.drifted_keys)

    def counters(self) -> dict[str, int]:
        """The run counters (``rows_*``) this batch adds to."""
        return {
            "rows_scanned": self.scanned,
            "rows_drifted": self.drifted,
            "rows_repaired": self.repaired,
            "rows_skipped": len(self.skipped),
            "rows_unversioned": self.unversioned,
        }


InTransaction = Callable[[sa.Connection, BatchOutcome], None]

LeaveAlone = Callable[[sa.Connection, str, Sequence[int]], Collection[int]]
"""Given the batch's table and its drifted keys, in the batch's transaction:
the keys not to repair (their history cannot be trusted). Only drifted rows
are asked about, because only they would be written."""


def members(dialect: str, keys: Sequence[int]) -> KeyRestriction:
    """``column IN keys`` as one bound parameter, whatever the number of keys
    (an expanded IN list would hit SQLite's limit on parameters): one index
    probe per key.

    No range bound beside it: with ``min(keys) <= column <= max(keys)`` also
    given, PostgreSQL walks the whole range and filters it by the array (2 s
    for 1,000 keys scattered over 2,000,000 versions). A sequential scan is
    excluded by :func:`batch_settings`, not by the shape of the condition.
    On PostgreSQL the array has the column's own type.
    """
    if dialect == "postgresql":
        array = sa.bindparam("keys", list(keys), type_=postgresql.ARRAY(sa.Integer))
        return lambda column: column == sa.any_(array)
    encoded = json.dumps(list(keys))

    def restrict_sqlite(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        values = sa.func.json_each(encoded).table_valued("value")
        return column.in_(sa.select(values.c.value))

    return restrict_sqlite


def _history_of(dialect: str, keys: Sequence[int]) -> KeyRestriction:
    """Which version rows to read for ``keys``: a plain key range when the keys
    nearly fill it (a keyset batch: one index range scan per version table,
    and rows outside the batch are few), else exact membership (a sync's
    scattered keys: one index probe per key)."""
    low, high = min(keys), max(keys)
    if high - low + 1 <= 2 * len(keys):
        return lambda column: column.between(low, high)
    return members(dialect, keys)


def batch_settings(connection: sa.Connection) -> None:
    """Planner settings for the current transaction's batch statements (PostgreSQL).

    * no JIT: the capture triggers a repair UPDATE fires, and the
      derivation's subqueries, are costed high enough to be JIT-compiled on
      every call (about 1.4 s per batch instead of 1 ms, measured); batches
      are small index-driven statements, for which JIT never pays off;
    * no parallel workers: starting them costs more than a batch's work;
    * no sequential scans where an index serves: a batch reads a bounded
      slice of each table, and stale statistics (no autovacuum) must not be
      able to turn that into a scan of a whole table per batch;
    * asynchronous commit: a batch writes only what a rerun writes again (a
      repaired stamp, run counters, the sync watermark, which may only lag),
      so a crash that loses its commit loses nothing, and waiting for the
      WAL flush of every batch was an eighth of a full reconcile.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "SELECT set_config('jit', 'off', true),"
            " set_config('max_parallel_workers_per_gather', '0', true),"
            " set_config('enable_seqscan', 'off', true),"
            " set_config('synchronous_commit', 'off', true)"
        )


def without_jit(connection: sa.Connection) -> None:
    """Turn PostgreSQL's JIT compiler off for the current transaction (see
    :func:`batch_settings` for why)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL jit = off")


def _present_keys(
    connection: sa.Connection, stamp: DerivedStamp, keys: Sequence[int], *, lock: bool = False
) -> list[int]:
    row = stamp.table_clause()
    member = members(connection.dialect.name, keys)
    query = sa.select(row.c[stamp.key]).where(member(row.c[stamp.key])).order_by(row.c[stamp.key])
    if lock:
        # FOR NO KEY UPDATE: the weakest lock that excludes other writers of
        # the row while still letting inserts that reference it (speakers)
        # check their foreign key.
        query = query.with_for_update(key_share=True, skip_locked=True)
    return [int(key) for (key,) in connection.execute(query)]


def _states(
    dialect: str, stamp: DerivedStamp, keys: Sequence[int], bound: HistoryBound | None
) -> sa.Select[int, str]:
    """``(key, state)`` of each existing row among ``keys``: ``unversioned`` (no
    history), ``drifted`` (history has a value and the stored stamp differs)
    or ``ok``. One statement: the batch's history is read once, grouped by
    key (no correlated subquery per row)."""
    row = stamp.table_clause()
    key = row.c[stamp.key]
    history = _history_of(dialect, keys)
    derived = derived_by_key(stamp, history, dialect, bound).subquery("derived")
    state = sa.case(
        (derived.c.key.is_(None), sa.literal("unversioned")),
        (
            sa.and_(
                derived.c.derived.is_not(None),
                row.c[stamp.column].is_distinct_from(derived.c.derived),
            ),
            sa.literal("drifted"),
        ),
        else_=sa.literal("ok"),
    )
    return (
        sa.select(key, state)
        .select_from(row.outerjoin(derived, derived.c.key == key))
        .where(members(dialect, keys)(key))
        .order_by(key)
    )


def _repair_locked(
    connection: sa.Connection,
    stamp: DerivedStamp,
    locked: Sequence[int],
    bound: HistoryBound | None,
) -> list[int]:
    """Set the stamp of each drifted row among ``locked`` to its derived value;
    the keys repaired. Derived in this statement's snapshot, after locking:
    see the module docstring for why that is safe."""
    dialect = connection.dialect.name
    update = stamp_update(stamp, members(dialect, locked), dialect, bound)
    return sorted(int(value) for (value,) in connection.execute(update))


def repair_batch(
    engine: sa.Engine,
    stamp: DerivedStamp,
    keys: Sequence[int],
    *,
    in_transaction: InTransaction | None = None,
    bound: HistoryBound | None = None,
    leave_alone: LeaveAlone | None = None,
) -> BatchOutcome:
    """Repair the drifted rows among ``keys`` in one transaction; returns what it did.

    The batch is first compared without locks (one statement); only the
    drifted rows are then locked and repaired, so a batch with nothing to
    repair costs what counting it costs and writes nothing.

    ``in_transaction(connection, outcome)`` runs inside that transaction
    after the UPDATE (for run counters, a watermark): it commits or rolls
    back together with the repair. ``bound``: what the caller knows of the
    history of ``keys`` (see :class:`~auditd.stamps.derive.HistoryBound`);
    ``leave_alone``: which drifted rows not to repair (:data:`LeaveAlone`).
    Raises SQLAlchemy errors (connection lost, timeouts); the batch is then
    rolled back as a whole.
    """
    if not keys:
        return BatchOutcome(table=stamp.table)
    with db.writer(engine).begin() as connection:
        batch_settings(connection)
        dialect = connection.dialect.name
        states = connection.execute(_states(dialect, stamp, keys, bound)).all()
        drifted = _trusted(connection, stamp, states, leave_alone)
        locked: list[int] = []
        skipped: tuple[int, ...] = ()
        if drifted and dialect == "postgresql":
            # A row changed since the comparison is compared again by the
            # UPDATE; one locked by a writer is left to that writer.
            locked = _present_keys(connection, stamp, drifted, lock=True)
            missing = sorted(set(drifted) - set(locked))
            skipped = tuple(_present_keys(connection, stamp, missing)) if missing else ()
        elif drifted:  # SQLite: BEGIN IMMEDIATE already excludes every other writer
            locked = drifted
        repaired = _repair_locked(connection, stamp, locked, bound) if locked else []
        outcome = BatchOutcome(
            table=stamp.table,
            scanned=len(states),
            repaired=len(repaired),
            unversioned=sum(1 for _key, state in states if state == "unversioned"),
            skipped=skipped,
            drifted_keys=tuple(repaired),
        )
        if in_transaction is not None:
            in_transaction(connection, outcome)
    return outcome


def count_batch(
    engine: sa.Engine,
    stamp: DerivedStamp,
    keys: Sequence[int],
    *,
    bound: HistoryBound | None = None,
    leave_alone: LeaveAlone | None = None,
) -> BatchOutcome:
    """Count drifted and unversioned rows among ``keys`` without changing anything.

    One read-only statement: each row's state is decided in SQL, Python only
    tallies the states. ``bound`` and ``leave_alone`` as for
    :func:`repair_batch` (rows left alone are not counted as drifted).
    """
    if not keys:
        return BatchOutcome(table=stamp.table)
    with engine.connect() as connection, connection.begin():
        batch_settings(connection)
        states = connection.execute(_states(connection.dialect.name, stamp, keys, bound)).all()
        drifted = _trusted(connection, stamp, states, leave_alone)
    return BatchOutcome(
        table=stamp.table,
        scanned=len(states),
        unversioned=sum(1 for _key, state in states if state == "unversioned"),
        drifted_keys=tuple(drifted),
    )


def _trusted(
    connection: sa.Connection,
    stamp: DerivedStamp,
    states: Sequence[sa.Row[int, str]],
    leave_alone: LeaveAlone | None,
) -> list[int]:
    """The drifted keys among ``states``, less those ``leave_alone`` refuses."""
    drifted = [int(key) for key, state in states if state == "drifted"]
    if not drifted or leave_alone is None:
        return drifted
    refused = set(leave_alone(connection, stamp.table, drifted))
    return [key for key in drifted if key not in refused]


# Keys read per query by key_batches, in batches: one short index-only range
# read serves several batches, and memory stays bounded by this many keys.
KEY_READ_BATCHES = 16


def key_batches(engine: sa.Engine, stamp: DerivedStamp, batch_size: int) -> Iterator[list[int]]:
    """Every key of ``stamp``'s table in ascending batches of ``batch_size`` (keyset
    pagination: each read is one short index range read, however large the table).

    Rows inserted behind the cursor while iterating are not returned; they
    were stamped by the capture triggers when they were written.
    """
    row = stamp.table_clause()
    key = row.c[stamp.key]
    after: int | None = None
    while True:
        query = sa.select(key).order_by(key).limit(batch_size * KEY_READ_BATCHES)
        if after is not None:
            query = query.where(key > after)
        with engine.connect() as connection:
            keys = [int(value) for (value,) in connection.execute(query)]
            connection.rollback()
        if not keys:
            return
        for start in range(0, len(keys), batch_size):
            yield keys[start : start + batch_size]
        after = keys[-1]


def count_rows(engine: sa.Engine, stamp: DerivedStamp) -> int:
    """The number of rows of ``stamp``'s table (for progress reporting)."""
    with engine.connect() as connection:
        return int(
            connection.scalar(sa.select(sa.func.count()).select_from(stamp.table_clause())) or 0
        )
