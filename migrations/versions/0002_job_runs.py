"""Job runs and job state: the daemon's record of what it did and where sync stands.

``audittrail_job_runs`` is unique on (job, scheduled_for): inserting that
pair is how a ``serve`` replica claims a scheduled tick, so each tick runs at
most once however many replicas share the database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import auditd.timestamps

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audittrail_job_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scheduled_for", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column("runner", sa.String(length=255), nullable=False),
        sa.Column("started_at", auditd.timestamps.UTCDateTime(), nullable=False),
        sa.Column("finished_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_scanned", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_drifted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_repaired", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_skipped", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_unversioned", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("watermark_from", sa.BigInteger(), nullable=True),
        sa.Column("watermark_to", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'interrupted', 'abandoned')",
            name=op.f("ck_audittrail_job_runs_status"),
        ),
        sa.CheckConstraint(
            "kind IN ('schedule', 'manual')", name=op.f("ck_audittrail_job_runs_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audittrail_job_runs")),
        sa.UniqueConstraint("job", "scheduled_for", name=op.f("uq_audittrail_job_runs_job")),
    )
    op.create_index(
        "ix_audittrail_job_runs_job_started_at",
        "audittrail_job_runs",
        ["job", "started_at"],
        unique=False,
    )
    op.create_table(
        "audittrail_job_state",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", auditd.timestamps.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_audittrail_job_state")),
    )


def downgrade() -> None:
    op.drop_table("audittrail_job_state")
    op.drop_index("ix_audittrail_job_runs_job_started_at", table_name="audittrail_job_runs")
    op.drop_table("audittrail_job_runs")
