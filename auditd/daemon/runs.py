"""The record of job runs and tick claims.

``audittrail_job_runs`` has one row per run. Its unique (job, scheduled_for)
pair is how a scheduled tick is claimed: a runner whose INSERT of the pair
finds it taken does nothing, so each tick runs at most once however many
``serve`` replicas share the database, even when they fire the tick one
after another rather than at the same moment. Row counters are added in the
transaction of the batch they count, so they always match what committed.

Sync's watermark, in ``audittrail_job_state``, is kept by
:mod:`auditd.stamps.watermark`.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditd import db
from auditd.models.jobs import JobRun
from auditd.stamps.repair import BatchOutcome
from auditd.timestamps import utcnow

__all__ = [
    "RUNS",
    "RunRecord",
    "claim_run",
    "finish_run",
    "last_runs",
    "record_counters",
    "runner_name",
]

RUNS: sa.Table = JobRun.__table__  # type: ignore[assignment]


def runner_name() -> str:
    """``host:pid`` of this process, as recorded on its runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --- run records ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One row of ``audittrail_job_runs`` (``id`` is None for an unrecorded dry run)."""

    id: int | None
    job: str
    kind: str
    scheduled_for: datetime | None
    runner: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    rows_scanned: int = 0
    rows_drifted: int = 0
    rows_repaired: int = 0
    rows_skipped: int = 0
    rows_unversioned: int = 0
    watermark_from: int | None = None
    watermark_to: int | None = None
    error: str | None = None
    detail: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def findings(self) -> dict[str, Any]:
        """``detail`` decoded (empty when there is none)."""
        return dict(json.loads(self.detail)) if self.detail else {}

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> RunRecord:
        names = {spec.name for spec in fields(cls)}
        return cls(**{key: value for key, value in row._mapping.items() if key in names})


def claim_run(
    engine: sa.Engine,
    job: str,
    *,
    kind: str,
    scheduled_for: datetime | None,
) -> int | None:
    """Record a new run of ``job`` and return its id, or None if ``scheduled_for``
    was already claimed by another runner.

    Call it holding the job's lock: any run of the job still marked running
    then belongs to a process that died, and is marked abandoned.
    """
    now = utcnow()
    with db.writer(engine).begin() as connection:
        connection.execute(
            RUNS.update()
            .where(RUNS.c.job == job, RUNS.c.status == "running")
            .values(status="abandoned", error="the process ended without recording an outcome")
        )
        insert = (
            db.upsert(connection, RUNS)
            .values(
                job=job,
                kind=kind,
                scheduled_for=scheduled_for,
                runner=runner_name(),
                started_at=now,
                status="running",
            )
            .on_conflict_do_nothing(index_elements=["job", "scheduled_for"])
            .returning(RUNS.c.id)
        )
        run_id = connection.scalar(insert)
    return None if run_id is None else int(run_id)


def record_counters(connection: sa.Connection, run_id: int, outcome: BatchOutcome) -> None:
    """Add one batch's counts to its run, inside the batch's transaction."""
    connection.execute(
        RUNS.update()
        .where(RUNS.c.id == run_id)
        .values({name: RUNS.c[name] + count for name, count in outcome.counters().items()})
    )


def finish_run(
    engine: sa.Engine,
    run_id: int,
    *,
    status: str,
    error: str | None = None,
    detail: str | None = None,
    watermark_from: int | None = None,
    watermark_to: int | None = None,
) -> RunRecord:
    """Record how the run ended and return the full record.

    Uses a fresh pooled connection. Raises SQLAlchemy errors if the database
    cannot be reached; the run then stays "running" until the next run of
    the job marks it abandoned.
    """
    with db.writer(engine).begin() as connection:
        row = connection.execute(
            RUNS.update()
            .where(RUNS.c.id == run_id)
            .values(
                status=status,
                finished_at=utcnow(),
                error=error,
                detail=detail,
                watermark_from=watermark_from,
                watermark_to=watermark_to,
            )
            .returning(*RUNS.c)
        ).one()
    return RunRecord.from_row(row)


def last_runs(engine: sa.Engine, jobs: tuple[str, ...]) -> dict[str, RunRecord | None]:
    """The most recent run of each job (None if it never ran)."""
    result: dict[str, RunRecord | None] = {}
    with engine.connect() as connection:
        for job in jobs:
            row = connection.execute(
                sa.select(RUNS)
                .where(RUNS.c.job == job)
                .order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc())
                .limit(1)
            ).first()
            result[job] = None if row is None else RunRecord.from_row(row)
    return result
