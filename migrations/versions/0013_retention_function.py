"""Capture generator 11: retention through a function, for the daemon's role.

``audittrail_retention_delete(history_table, keys)`` (PostgreSQL) runs with
the audit owner's rights and deletes the history rows whose primary keys it
is given, never a row's current version, from the transaction table or a
version table only; ``audittrail roles --daemon-role`` grants it, so that
the daemon's ``prune`` job works without the owner's rights (see
:mod:`auditd.capture.append_only`). On SQLite nothing changes but the
generator version in the markers. Every registered table's capture is
regenerated.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from alembic import op

from auditd import capture, registry
from auditd.capture import append_only
from auditd.models.namespace import audit_schema

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 11
CAPTURE_SQL_DIGEST = "4824bd4ec56893b463fe94bc9c1b970beed93715c15158a6ecb35dd28d3712e8"


def upgrade() -> None:
    connection = op.get_bind()
    capture.install(connection, registry.load(connection))


def downgrade() -> None:
    # A build can only generate its own capture; what it generates runs on
    # the schema of revision 0012 too. Only the function goes: prune then
    # needs the owner's rights again, as it did before.
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        function = append_only.retention_function_signature(audit_schema(connection))
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
