"""Derived stamps: full reconcile and verify against the one-statement floor,
and an incremental sync after 1% of the rows changed against a full reconcile.

The floor is the cheapest way to answer the question a full pass answers:
one SQL statement that derives every stamp from history (version and link
rows joined to their transactions, ``max(issued_at)`` per row) and counts
the rows whose stored stamp differs, with the planner free to hash-join
whole tables. Reconcile and verify do the same in bounded batches, each its
own transaction, and record their runs; the ratio is what that costs.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from auditd import db
from auditd.config import Settings
from auditd.daemon.jobs import run_job
from auditd.models.audit import TRANSACTION
from auditd.stamps.derive import DerivedStamp, load_stamps
from benchmarks.measure import Figure, alternate

RECONCILE_TARGET = 3.0
SYNC_TARGET = 0.05
CHANGED_FRACTION = 100  # one row in this many changes before each sync


def floor_statement(stamp: DerivedStamp) -> sa.Select[tuple[int]]:
    """One statement: every row's derived stamp, compared, drifted rows counted."""
    branches = []
    for source in stamp.sources:
        version = source.table_clause()
        branches.append(
            sa.select(version.c[source.column].label("key"), version.c.transaction_id.label("tx"))
        )
    touches = sa.union_all(*branches).subquery("touches")
    derived = (
        sa.select(touches.c.key, sa.func.max(TRANSACTION.c.issued_at).label("derived"))
        .join_from(touches, TRANSACTION, TRANSACTION.c.id == touches.c.tx)
        .group_by(touches.c.key)
        .subquery("derived")
    )
    row = stamp.table_clause()
    drifted = row.c[stamp.column].is_distinct_from(derived.c.derived)
    return sa.select(sa.func.count().filter(drifted)).join_from(
        row, derived, derived.c.key == row.c[stamp.key]
    )


def _floor(engine: sa.Engine, stamps: tuple[DerivedStamp, ...]) -> Callable[[], object]:
    def run() -> None:
        with engine.connect() as connection:
            for stamp in stamps:
                drifted = connection.scalar(floor_statement(stamp))
                assert drifted == 0, f"{drifted} drifted rows in {stamp.table}"
            connection.rollback()

    return run


def _job(engine: sa.Engine, settings: Settings, job: str) -> Callable[[], object]:
    def run() -> None:
        record = run_job(engine, settings, job)
        assert record is not None and record.status == "succeeded", record
        assert record.rows_drifted == 0, f"{job} found drift in a consistent database"

    return run


def _change_some_rows(engine: sa.Engine, stamp: DerivedStamp) -> Callable[[], object]:
    """Each call changes another 1% of the rows, in 500-row captured statements."""
    rounds = iter(range(CHANGED_FRACTION))
    row = sa.table(stamp.table, sa.column(stamp.key), sa.column("title"))

    def change() -> None:
        shift = next(rounds)
        with engine.connect() as connection:
            keys = connection.scalars(
                sa.select(row.c[stamp.key]).where(row.c[stamp.key] % CHANGED_FRACTION == shift)
            ).all()
        for start in range(0, len(keys), 500):
            with db.write_transaction(engine) as connection:
                connection.execute(
                    sa.update(row)
                    .where(row.c[stamp.key].in_(keys[start : start + 500]))
                    .values(title=row.c.title + "*")
                )

    return change


def measure(engine: sa.Engine, settings: Settings, repetitions: int, group: str) -> list[Figure]:
    """Reconcile and verify against the floor; sync after a 1% change against reconcile."""
    stamps = load_stamps(engine)
    floor = _floor(engine, stamps)
    figures = []
    for job in ("reconcile", "verify"):
        base, subject = alternate(repetitions, floor, _job(engine, settings, job))
        figures.append(
            Figure(
                group=group,
                subject=f"{job} (full pass)",
                baseline="one-statement floor",
                samples=subject,
                baseline_samples=base,
                target=RECONCILE_TARGET,
            )
        )
    (stamp,) = [s for s in stamps if s.table == "sessions"]
    base, subject = alternate(
        repetitions,
        _job(engine, settings, "reconcile"),
        _job(engine, settings, "sync"),
        prepare=_change_some_rows(engine, stamp),
    )
    figures.append(
        Figure(
            group=group,
            subject="sync after 1% of rows changed",
            baseline="full reconcile",
            samples=subject,
            baseline_samples=base,
            target=SYNC_TARGET,
        )
    )
    return figures
