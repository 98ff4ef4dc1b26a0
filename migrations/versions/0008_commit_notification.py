"""Commit notification: capture wakes the daemon's sync at commit.

Capture generator 7: on PostgreSQL, the shared transaction function
``audittrail_tx`` sends ``pg_notify('audittrail_changes', '')`` in every
transaction that writes history, which the daemon LISTENs for to sync
within seconds (``service.sync_on_change``). Every registered table's
triggers are reinstalled. Job runs woken that way are recorded with kind
``change``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auditd import capture, registry
from auditd.models.namespace import legacy_layout

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 7
CAPTURE_SQL_DIGEST = "992e0a2991ae91c6d27945057de2c62fa6ec7cfc71f3f8688464596b42d3807b"

RUNS = "audittrail_job_runs"
KIND = "ck_audittrail_job_runs_kind"


def _allow_kinds(*kinds: str) -> None:
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table(RUNS) as batch:
        batch.drop_constraint(op.f(KIND), type_="check")
        batch.create_check_constraint(op.f(KIND), sa.text(f"kind IN ({allowed})"))


def upgrade() -> None:
    with legacy_layout(op.get_bind()) as connection:
        capture.install(connection, registry.load(connection))
    _allow_kinds("schedule", "manual", "change")


def downgrade() -> None:
    # A run woken by a commit was started by the scheduler, not by hand.
    op.execute(sa.text(f"UPDATE {RUNS} SET kind = 'schedule' WHERE kind = 'change'"))
    _allow_kinds("schedule", "manual")
    # The triggers of this build stay (a build can only generate its own); a
    # notification nobody listens for costs next to nothing.
