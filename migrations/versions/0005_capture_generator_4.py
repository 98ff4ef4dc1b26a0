"""Capture generator 4: regenerate the capture triggers of every table.

Generator 4 runs fewer statements per captured row: on PostgreSQL the
close of a row's previous version and the insert of its new one are one
statement; on SQLite an update that keeps the key and one that changes it
get separate triggers (``audittrail_<table>_update`` and ``_rekey``). The
triggers of every registered table (the migrated ones and any ``audittrail
adopt`` took over) are generated again from their registered specs; what
they record does not change.

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
    # Revision 0004's triggers recorded the same rows; this build can only
    # generate its own, so the downgrade leaves them current.
    pass
