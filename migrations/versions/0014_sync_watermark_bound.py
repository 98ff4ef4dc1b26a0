"""Sync's watermark carries a bound on the times below it.

``audittrail_job_state.watermark_issued_at``: the latest ``issued_at`` of any
transaction below the watermark (read in the snapshot that set it). A row
changed since the watermark whose new versions include one issued at or
after that time derives its stamp from those versions alone: the older ones
cannot hold the maximum. NULL (a database that has not synced since this
revision) means no bound: the next sync derives every changed row from its
whole history, as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auditd.models.namespace import audit_schema
from auditd.timestamps import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "audittrail_job_state",
        sa.Column("watermark_issued_at", UTCDateTime(), nullable=True),
        schema=audit_schema(op.get_bind()),
    )


def downgrade() -> None:
    op.drop_column(
        "audittrail_job_state", "watermark_issued_at", schema=audit_schema(op.get_bind())
    )
