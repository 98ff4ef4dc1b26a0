"""Repair and count drift of derived stamps, one bounded batch per transaction.

A batch is a set of primary keys of one stamped table. :func:`repair_batch`
makes their stored ``last_modified_at`` equal to the value derived from
history (:mod:`auditd.stamps.derive`) with one set-based UPDATE; :func:`count_batch`
only looks. Nothing here knows about schedules, runs or watermarks: callers
pass an ``in_transaction`` hook to record their bookkeeping atomically with
the batch.

Why a repair is safe under concurrency (PostgreSQL, READ COMMITTED):

1. The batch's rows are locked first, ``FOR NO KEY UPDATE SKIP LOCKED``.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from auditd import db
from auditd.stamps.derive import DerivedStamp, derived_value, drift_condition

__all__ = [
    "BatchOutcome",
    "count_batch",
    "count_rows",
    "has_history",
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


def has_history(stamp: DerivedStamp, row: sa.TableClause) -> sa.ColumnElement[bool]:
    """True where at least one version row counts for ``row`` (index probes only)."""
    checks = []
    for source in stamp.sources:
        version = source.table_clause()
        checks.append(
            sa.exists().where(version.c[source.column] == row.c[stamp.key]).correlate(row)
        )
    return sa.or_(*checks)


def _key_filter(
    dialect: str, row: sa.TableClause, key: str, keys: Sequence[int]
) -> sa.ColumnElement[bool]:
    """``row.key IN keys`` as one bound parameter, whatever the number of keys
    (an expanded IN list would hit SQLite's limit on parameters).

    The range bound lets the planner use the primary key even with stale
    statistics (a freshly loaded table looks tiny, and a sequential scan
    that tests every row against every key is quadratic); the array has the
    column's own type, so PostgreSQL can hash it rather than search it.
    """
    column = row.c[key]
    within = column.between(min(keys), max(keys))
    if dialect == "postgresql":
        array = sa.bindparam("keys", list(keys), type_=postgresql.ARRAY(sa.Integer))
        return sa.and_(within, column == sa.any_(array))
    values = sa.func.json_each(json.dumps(list(keys))).table_valued("value")
    return sa.and_(within, column.in_(sa.select(values.c.value)))


def without_jit(connection: sa.Connection) -> None:
    """Turn PostgreSQL's JIT compiler off for the current transaction.

    The derivation's correlated subqueries, and the capture triggers a repair
    UPDATE fires, are costed high enough to be JIT-compiled on every call:
    about 1.4 s per batch instead of 1 ms (PostgreSQL 15 defaults, measured).
    Our batches are small index-driven statements, for which JIT never pays off.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL jit = off")


def _present_keys(
    connection: sa.Connection, stamp: DerivedStamp, keys: Sequence[int], *, lock: bool = False
) -> list[int]:
    row = stamp.table_clause()
    query = (
        sa.select(row.c[stamp.key])
        .where(_key_filter(connection.dialect.name, row, stamp.key, keys))
        .order_by(row.c[stamp.key])
    )
    if lock:
        # FOR NO KEY UPDATE: the weakest lock that excludes other writers of
        # the row while still letting inserts that reference it (speakers)
        # check their foreign key.
        query = query.with_for_update(key_share=True, skip_locked=True)
    return [int(key) for (key,) in connection.execute(query)]


def repair_batch(
    engine: sa.Engine,
    stamp: DerivedStamp,
    keys: Sequence[int],
    *,
    in_transaction: InTransaction | None = None,
) -> BatchOutcome:
    """Repair the drifted rows among ``keys`` in one transaction; returns what it did.

    ``in_transaction(connection, outcome)`` runs inside that transaction
    after the UPDATE (for run counters, a watermark): it commits or rolls
    back together with the repair. Raises SQLAlchemy errors (connection
    lost, timeouts); the batch is then rolled back as a whole.
    """
    if not keys:
        return BatchOutcome(table=stamp.table)
    row = stamp.table_clause()
    with db.writer(engine).begin() as connection:
        without_jit(connection)
        dialect = connection.dialect.name
        if dialect == "postgresql":
            locked = _present_keys(connection, stamp, keys, lock=True)
            missing = sorted(set(keys) - set(locked))
            skipped = tuple(_present_keys(connection, stamp, missing)) if missing else ()
        else:
            locked = _present_keys(connection, stamp, keys)
            skipped = ()
        repaired: list[int] = []
        unversioned = 0
        if locked:
            mine = _key_filter(dialect, row, stamp.key, locked)
            # Derived after locking: see the module docstring for why that is safe.
            update = (
                sa.update(row)
                .values({stamp.column: derived_value(stamp, row)})
                .where(mine, drift_condition(stamp, row))
                .returning(row.c[stamp.key])
            )
            repaired = sorted(int(key) for (key,) in connection.execute(update))
            unversioned = int(
                connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(row)
                    .where(mine, sa.not_(has_history(stamp, row)))
                )
                or 0
            )
        outcome = BatchOutcome(
            table=stamp.table,
            scanned=len(locked) + len(skipped),
            repaired=len(repaired),
            unversioned=unversioned,
            skipped=skipped,
            drifted_keys=tuple(repaired),
        )
        if in_transaction is not None:
            in_transaction(connection, outcome)
    return outcome


def count_batch(engine: sa.Engine, stamp: DerivedStamp, keys: Sequence[int]) -> BatchOutcome:
    """Count drifted and unversioned rows among ``keys`` without changing anything.

    One read-only statement: each row's state is decided in SQL, Python only
    tallies the states.
    """
    if not keys:
        return BatchOutcome(table=stamp.table)
    row = stamp.table_clause()
    with engine.connect() as connection, connection.begin():
        without_jit(connection)
        state = sa.case(
            (sa.not_(has_history(stamp, row)), sa.literal("unversioned")),
            (drift_condition(stamp, row), sa.literal("drifted")),
            else_=sa.literal("ok"),
        )
        query = (
            sa.select(row.c[stamp.key], state)
            .where(_key_filter(connection.dialect.name, row, stamp.key, keys))
            .order_by(row.c[stamp.key])
        )
        states = [(int(key), str(value)) for key, value in connection.execute(query)]
    drifted = tuple(key for key, value in states if value == "drifted")
    return BatchOutcome(
        table=stamp.table,
        scanned=len(states),
        unversioned=sum(1 for _key, value in states if value == "unversioned"),
        drifted_keys=drifted,
    )


def key_batches(engine: sa.Engine, stamp: DerivedStamp, batch_size: int) -> Iterator[list[int]]:
    """Every key of ``stamp``'s table in ascending batches of ``batch_size`` (keyset
    pagination: each batch is one short index range read, however large the table).

    Rows inserted behind the cursor while iterating are not returned; they
    were stamped by the capture triggers when they were written.
    """
    row = stamp.table_clause()
    key = row.c[stamp.key]
    after: int | None = None
    while True:
        query = sa.select(key).order_by(key).limit(batch_size)
        if after is not None:
            query = query.where(key > after)
        with engine.connect() as connection:
            batch = [int(value) for (value,) in connection.execute(query)]
            connection.rollback()
        if not batch:
            return
        yield batch
        after = batch[-1]


def count_rows(engine: sa.Engine, stamp: DerivedStamp) -> int:
    """The number of rows of ``stamp``'s table (for progress reporting)."""
    with engine.connect() as connection:
        return int(
            connection.scalar(sa.select(sa.func.count()).select_from(stamp.table_clause())) or 0
        )
