"""Indexes the history queries need (migration 0003 creates them).

History pairs each version with its predecessor through the validity
linkage (``previous.end_transaction_id = version.transaction_id``, same key),
so every version table is indexed by (key, end_transaction_id): finding a
version's predecessor, or a row's current version (``end_transaction_id IS
NULL``), is then one index probe instead of a scan of the row's history.
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.models.base import Base

PREDECESSOR_INDEXES: dict[str, tuple[str, ...]] = {
    "events_version": ("id", "end_transaction_id"),
    "tracks_version": ("id", "end_transaction_id"),
    "speaker_version": ("id", "end_transaction_id"),
    "sessions_version": ("id", "end_transaction_id"),
    "speakers_sessions_version": ("session_id", "speaker_id", "end_transaction_id"),
}


def predecessor_index_name(table: str) -> str:
    """The name of ``table``'s predecessor index (shared with the migration)."""
    return f"ix_{table}_predecessor"


for _table, _columns in PREDECESSOR_INDEXES.items():
    sa.Index(
        predecessor_index_name(_table),
        *(Base.metadata.tables[_table].c[column] for column in _columns),
    )
