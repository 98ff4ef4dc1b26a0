"""Indexes the history and derivation queries need on every version table.

History pairs each version with its predecessor through the validity
linkage (``previous.end_transaction_id = version.transaction_id``, same key),
so every version table is indexed by (key, end_transaction_id): finding a
version's predecessor, or a row's current version (``end_transaction_id IS
NULL``), is then one index probe instead of a scan of the row's history.
Deriving a parent's stamp reads an association's history by parent, so an
association's version table is also indexed by (parent column,
transaction_id).
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.models.base import Base
from auditd.models.namespace import metadata_key, version_table_name
from auditd.models.versioned import (
    DECLARATIONS,
    parent_index_name,
    predecessor_columns,
    predecessor_index_name,
)


def declare_version_indexes() -> None:
    """Add the indexes to the version tables Continuum built (called once)."""
    for declaration in DECLARATIONS:
        live = Base.metadata.tables[declaration.table]
        version = Base.metadata.tables[metadata_key(version_table_name(declaration.table))]
        key = tuple(column.name for column in live.primary_key.columns)
        columns = predecessor_columns(declaration, key)
        sa.Index(predecessor_index_name(version.name), *(version.c[c] for c in columns))
        if declaration.membership is not None:
            parent = declaration.membership.parent_column
            sa.Index(
                parent_index_name(version.name, parent),
                version.c[parent],
                version.c.transaction_id,
            )
