"""Version tables for tables this project did not create (``audittrail adopt``).

A version table gets Continuum's shape with the live table's exact column
types, so that history covers every column the table really has (an Open
Event Server ``sessions`` table has ``website``, ``average_rating``, ...
that the models do not declare), and the same indexes as the version
tables of :mod:`auditd.models.indexes`.
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.errors import CaptureError
from auditd.models.versioned import (
    STAMP_COLUMN,
    declaration,
    parent_index_name,
    predecessor_columns,
    predecessor_index_name,
)
from auditd.registry import VersionedTable, catalog, quote


def ensure_stamp_column(connection: sa.Connection, table: str) -> bool:
    """Add a nullable ``last_modified_at`` to ``table`` (of the default
    schema) if it has none; True if added. Raises :class:`CaptureError` for a
    PostgreSQL column without time zone (the triggers write absolute
    instants)."""
    columns = catalog.column_types(connection, table)
    if STAMP_COLUMN in columns:
        if (
            connection.dialect.name == "postgresql"
            and "with time zone" not in columns[STAMP_COLUMN]
        ):
            raise CaptureError(
                f"{table}.{STAMP_COLUMN} is a timestamp without time zone",
                f"convert it first: ALTER TABLE {table} ALTER COLUMN {STAMP_COLUMN}"
                f" TYPE timestamptz USING {STAMP_COLUMN} AT TIME ZONE 'UTC'",
            )
        return False
    kind = "timestamp with time zone" if connection.dialect.name == "postgresql" else "DATETIME"
    connection.exec_driver_sql(
        f"ALTER TABLE {quote(table)} ADD COLUMN {quote(STAMP_COLUMN)} {kind}"
    )
    return True


def create_version_table(connection: sa.Connection, entry: VersionedTable) -> None:
    """Continuum's shape: the versioned columns with their exact types
    (nullable but the key), ``transaction_id``, ``end_transaction_id``,
    ``operation_type``; key + ``transaction_id`` as primary key; indexed by
    ``transaction_id`` (see :func:`create_indexes` for the others)."""
    types = catalog.column_types(connection, entry.table, entry.table_schema)
    version = entry.version_table
    keys = [quote(k) for k in entry.key]
    definitions = [
        f"{quote(c)} {types[c]}" + (" NOT NULL" if c in entry.key else "")
        for c in entry.column_names
    ]
    definitions += [
        "transaction_id BIGINT NOT NULL",
        "end_transaction_id BIGINT",
        "operation_type SMALLINT NOT NULL",
        f"CONSTRAINT {quote('pk_' + version)} PRIMARY KEY ({', '.join(keys)}, transaction_id)",
    ]
    connection.exec_driver_sql(
        f"CREATE TABLE {entry.qualified_version_table} ({', '.join(definitions)})"
    )
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {quote(f'ix_{version}_transaction_id')}"
        f" ON {entry.qualified_version_table} (transaction_id)"
    )


def create_indexes(connection: sa.Connection, entry: VersionedTable) -> None:
    """The predecessor index, and an association's (parent, transaction) index
    (idempotent)."""
    declared = declaration(entry.table)
    assert declared is not None
    version = entry.version_table
    indexes = {predecessor_index_name(version): predecessor_columns(declared, entry.key)}
    for parent in entry.parents:
        indexes[parent_index_name(version, parent.column)] = (parent.column, "transaction_id")
    for name, columns in indexes.items():
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {quote(name)}"
            f" ON {entry.qualified_version_table} ({', '.join(quote(c) for c in columns)})"
        )


def add_version_columns(connection: sa.Connection, entry: VersionedTable) -> tuple[str, ...]:
    """Add the columns the table gained since its version table was made;
    returns their names (history covers them from now on)."""
    versioned = set(catalog.column_types(connection, entry.version_table, entry.audit_schema))
    missing = tuple(c for c in entry.column_names if c not in versioned)
    types = catalog.column_types(connection, entry.table, entry.table_schema) if missing else {}
    for column in missing:
        connection.exec_driver_sql(
            f"ALTER TABLE {entry.qualified_version_table}"
            f" ADD COLUMN {quote(column)} {types[column]}"
        )
    return missing
