"""Capture generator 4: regenerate the capture triggers of every table.

Generator 4 captures ``TRUNCATE`` on PostgreSQL (a statement trigger
records a delete of every row) and runs fewer statements per captured row:
on PostgreSQL the close of a row's previous version and the insert of its
new one are one statement; on SQLite an update that keeps the key and one
that changes it get separate triggers (``audittrail_<table>_update`` and
``_rekey``). The triggers of every registered table (the migrated ones and
any ``audittrail adopt`` took over) are generated again from their
registered specs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 18:45:00
"""

from __future__ import annotations

from alembic import op

from auditd import capture

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _regenerate() -> None:
    connection = op.get_bind()
    capture.install(connection, capture.installed_specs(connection))


def upgrade() -> None:
    _regenerate()


def downgrade() -> None:
    # This build can only generate its own triggers; they work on the schema
    # of revision 0004 too, so the downgrade leaves them in place.
    pass
