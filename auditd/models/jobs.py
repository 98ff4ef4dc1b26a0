"""The daemon's own bookkeeping: one row per job run, one state row per job.

``audittrail_job_runs`` is the record operators read (``audittrail jobs``)
and the claim that makes each scheduled tick run at most once across
``serve`` replicas: (job, scheduled_for) is unique, and a replica runs a
tick only if its INSERT of that pair succeeded. On-demand runs have no
scheduled time (NULL never conflicts). ``audittrail_job_state`` holds what
a job carries from one run to the next: the sync watermark.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from auditd.models.base import Base
from auditd.models.namespace import AUDIT_SCHEMA
from auditd.timestamps import UTCDateTime

RUN_STATUSES = ("running", "succeeded", "failed", "interrupted", "abandoned")
RUN_KINDS = ("schedule", "manual", "change")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class JobRun(Base):
    """One run of a job: when, by whom, what it found and did, how it ended.

    The row counters are updated in the same transaction as each batch they
    count, so they always equal what was committed, even after a crash.
    """

    __tablename__ = "audittrail_job_runs"
    __table_args__ = (
        sa.UniqueConstraint("job", "scheduled_for"),
        sa.CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        sa.CheckConstraint(_in("kind", RUN_KINDS), name="kind"),
        sa.Index("ix_audittrail_job_runs_job_started_at", "job", "started_at"),
        {"schema": AUDIT_SCHEMA},
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    job: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    # "schedule" (a tick of the scheduler), "manual" (a command run on demand) or
    # "change" (a sync woken by a commit).
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    # The tick this run claimed; NULL for runs started on demand.
    scheduled_for: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    # host:pid of the process that ran it.
    runner: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    started_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime)
    finished_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    rows_scanned: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, server_default="0")
    rows_drifted: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, server_default="0")
    rows_repaired: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, server_default="0")
    rows_skipped: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, server_default="0")
    rows_unversioned: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, server_default="0")
    # sync only: the range of transaction ids [watermark_from, watermark_to) it covered.
    watermark_from: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    watermark_to: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    error: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # Job-specific findings as JSON (verify: capture problems, drifted keys).
    detail: orm.Mapped[str | None] = orm.mapped_column(sa.Text)


class JobState(Base):
    """What a job carries between runs. ``watermark``: every transaction with
    a smaller id is known to be processed by sync; ``watermark_issued_at``:
    none of those transactions was issued later (NULL: unknown)."""

    __tablename__ = "audittrail_job_state"
    __table_args__ = ({"schema": AUDIT_SCHEMA},)

    job: orm.Mapped[str] = orm.mapped_column(sa.String(32), primary_key=True)
    watermark: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    watermark_issued_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    updated_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime)
