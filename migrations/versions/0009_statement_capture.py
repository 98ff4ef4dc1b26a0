"""Capture generator 8: multi-row statements versioned set-based on PostgreSQL.

The PostgreSQL capture triggers declare the statement's transition tables;
the first row's call of a statement that changed several rows versions all
of them with one set-based statement, and the calls for the other rows
return at once (see :mod:`auditd.capture.postgresql`). Every registered
table's triggers are regenerated with this build's generator.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from alembic import op

from auditd import capture, registry
from auditd.models.namespace import legacy_layout

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 8
CAPTURE_SQL_DIGEST = "d2544c637b7b2ba61820b7be4314c43f7982cc89fb7e67c1fe7c2e26eb8a055d"


def upgrade() -> None:
    with legacy_layout(op.get_bind()) as connection:
        capture.install(connection, registry.load(connection))


def downgrade() -> None:
    # A build can only generate its own triggers; they work on the schema of
    # revision 0006 too, so the downgrade leaves them in place.
    pass
