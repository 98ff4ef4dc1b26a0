"""History indexes: each version table by (key, end_transaction_id).

The history queries join every version to its predecessor through the
validity linkage (``previous.end_transaction_id = version.transaction_id``)
and look up a row's current version (``end_transaction_id IS NULL``); these
indexes make each of those lookups a single index probe.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Pinned here rather than read from auditd.models.indexes, so this revision
# creates the same indexes forever.
INDEXES: dict[str, tuple[str, ...]] = {
    "events_version": ("id", "end_transaction_id"),
    "tracks_version": ("id", "end_transaction_id"),
    "speaker_version": ("id", "end_transaction_id"),
    "sessions_version": ("id", "end_transaction_id"),
    "speakers_sessions_version": ("session_id", "speaker_id", "end_transaction_id"),
}


def _existing(table: str) -> bool:
    # An adopted database may not have every version table yet; adoption
    # creates them from the models, which declare these same indexes.
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    for table, columns in INDEXES.items():
        if _existing(table):
            op.create_index(f"ix_{table}_predecessor", table, list(columns), unique=False)


def downgrade() -> None:
    for table in reversed(INDEXES):
        if _existing(table):
            op.drop_index(f"ix_{table}_predecessor", table_name=table)
