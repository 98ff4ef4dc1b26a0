"""Lean version indexes: drop the version-table indexes no query needs.

Each index of a version table costs two writes per captured change (the new
version, and the close of its predecessor, which is never a HOT update).
What the history, feed, derivation and capture queries use stays: the
primary key (key, ``transaction_id``), ``transaction_id`` and the
predecessor index (key, ``end_transaction_id``) of revision 0003. Dropped:
Continuum's ``end_transaction_id``, ``operation_type`` and composite indexes
and its copies of the parent tables' indexed columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Pinned: index name -> (version table, its indexed expressions), so that the
# downgrade recreates exactly what revision 0001 (or adopt) created.
_KEYS: dict[str, tuple[str, ...]] = {
    "events_version": ("id",),
    "tracks_version": ("id",),
    "speaker_version": ("id",),
    "sessions_version": ("id",),
    "speakers_sessions_version": ("speaker_id", "session_id"),
}
_COPIED: dict[str, tuple[str, ...]] = {
    "tracks_version": ("event_id",),
    "speaker_version": ("event_id",),
    "sessions_version": ("event_id", "track_id"),
}
DROPPED: dict[str, tuple[str, tuple[str, ...]]] = {}
for _table, _key in _KEYS.items():
    DROPPED |= {
        f"ix_{_table}_end_transaction_id": (_table, ("end_transaction_id",)),
        f"ix_{_table}_operation_type": (_table, ("operation_type",)),
        f"ix_{_table}_pk_transaction_id": (_table, (*_key, "transaction_id DESC")),
        f"ix_{_table}_pk_validity": (_table, (*_key, "transaction_id", "end_transaction_id")),
    }
    DROPPED |= {f"ix_{_table}_{c}": (_table, (c,)) for c in _COPIED.get(_table, ())}


def _columns() -> dict[str, set[str]]:
    """Column names of the version tables that exist (an adopted database
    gets its version tables from ``audittrail adopt`` later)."""
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    return {t: {c["name"] for c in inspector.get_columns(t)} for t in _KEYS if t in present}


def upgrade() -> None:
    present = _columns()
    for name, (table, _) in DROPPED.items():
        if table in present:
            op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    present = _columns()
    for name, (table, expressions) in DROPPED.items():
        if {e.split()[0] for e in expressions} <= present.get(table, set()):
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(expressions)})")
