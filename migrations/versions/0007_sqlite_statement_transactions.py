"""Capture generator 6: SQLite keeps every committed write's own version.

On SQLite, a writer outside the ORM got a transaction row per statement,
told apart from the next statement by the millisecond clock alone: two
statements committed within one millisecond shared a transaction row, and a
row both changed kept one version. Generator 6 tells a foreign writer's
statements apart by the connection's ``total_changes()``, which the slot's
``statement_stamp`` now records, and never versions a row twice under one
statement's transaction row. Every registered table's triggers are
regenerated; on PostgreSQL only their markers change.

History written before this revision keeps what it lost; ``verify`` reports
the merged versions it can recognise (:mod:`auditd.capture.merged_changes`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 09:00:00
"""

from __future__ import annotations

from alembic import op

from auditd import capture, registry
from auditd.models.namespace import legacy_layout

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 6
CAPTURE_SQL_DIGEST = "d2f79df90a7843bfe5f7ddf9b49dad7f067cd15d83fcfe90ab86d3a107549430"


def upgrade() -> None:
    with legacy_layout(op.get_bind()) as connection:
        capture.install(connection, registry.load(connection))


def downgrade() -> None:
    # This build can only generate its own triggers; they work on the schema
    # of revision 0006 too, so the downgrade leaves them in place.
    pass
