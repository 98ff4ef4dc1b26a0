"""Capture generator 4: regenerate the capture triggers of every table.

Generator 4 captures ``TRUNCATE`` on PostgreSQL (a statement trigger
records a delete of every row) and runs fewer statements per captured row:
on PostgreSQL the close of a row's previous version and the insert of its
new one are one statement; on SQLite an update that keeps the key and one
that changes it get separate triggers (``audittrail_<table>_update`` and
``_rekey``). The build that introduced it regenerated every registered
table's triggers here; a build can only generate its own triggers, so later
builds leave that to the revision that introduced their generator (0006).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 18:45:00
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A build can only generate its own triggers: revision 0006 regenerates
    # every registered table's triggers with this build's generator.
    pass


def downgrade() -> None:
    # This build can only generate its own triggers; they work on the schema
    # of revision 0004 too, so the downgrade leaves them in place.
    pass
