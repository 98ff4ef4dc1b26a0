"""Build registry entries from the live catalog, or from the models.

:func:`from_catalog` is what migrations and ``audittrail adopt`` record: the
columns each declared table has in this database, extra columns of an
adopted Open Event table included. :func:`from_models` gives the same
entries for a database our migrations created (a test holds the two
equal), without a database at hand.
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.errors import CaptureError
from auditd.models import Base
from auditd.models.namespace import (
    Layout,
    current_layout,
    default_schema,
    metadata_key,
    version_table_name,
)
from auditd.models.versioned import (
    DECLARATIONS,
    STAMP_COLUMN,
    VERSION_META_COLUMNS,
    Declaration,
)
from auditd.registry import catalog
from auditd.registry.entry import ColumnKind, ParentStamp, VersionedColumn, VersionedTable
from auditd.timestamps import UTCDateTime


def _kind_of_sql_type(text: str) -> ColumnKind:
    """The kind of a column from its declared SQL type (PostgreSQL's
    ``format_type`` or SQLite's declared type)."""
    upper = text.upper()
    if upper.endswith("[]"):
        return "plain"
    if upper.startswith("TIMESTAMP") or "DATETIME" in upper:
        return "timestamp"
    if upper in ("JSON", "JSONB"):
        return "json"
    if upper.startswith("BOOL"):
        return "boolean"
    return "plain"


def _kind_of_model_type(column: sa.Column[object]) -> ColumnKind:
    kind = column.type
    if isinstance(kind, UTCDateTime | sa.DateTime):
        return "timestamp"
    if isinstance(kind, sa.JSON):
        return "json"
    if isinstance(kind, sa.Boolean):
        return "boolean"
    return "plain"


def _entry(
    declaration: Declaration,
    key: tuple[str, ...],
    columns: list[VersionedColumn],
    has_stamp: bool,
    stamped_tables: dict[str, str],
    layout: Layout,
    table_schema: str | None,
) -> VersionedTable:
    names = {column.name for column in columns}
    membership = declaration.membership
    parents: tuple[ParentStamp, ...] = ()
    if (
        membership is not None
        and membership.parent_table in stamped_tables
        and membership.parent_column in names
    ):
        parents = (
            ParentStamp(
                column=membership.parent_column,
                parent_table=membership.parent_table,
                parent_key=membership.parent_key,
                stamp_column=stamped_tables[membership.parent_table],
            ),
        )
    event_column = declaration.event_column if declaration.event_column in names else None
    return VersionedTable(
        table=declaration.table,
        version_table=layout.version_table(declaration.table),
        key=key,
        columns=tuple(columns),
        stamp_column=STAMP_COLUMN if has_stamp else None,
        parents=parents,
        model=declaration.model,
        event_column=event_column,
        membership=membership,
        table_schema=table_schema,
        audit_schema=layout.schema,
        transaction_table=layout.transaction_table(),
    )


def from_catalog(
    connection: sa.Connection, layout: Layout | None = None
) -> tuple[VersionedTable, ...]:
    """An entry for every declared table that exists in the database, built
    from its live columns; ``last_modified_at``, where present, is stamped
    rather than versioned.

    ``layout`` says where the audit objects are (default: this build's
    layout); with a schema for them, live tables are qualified by the
    connection's current schema, without one (the legacy layout) left
    unqualified. Raises :class:`CaptureError` for a declared table without a
    primary key.
    """
    layout = current_layout(connection) if layout is None else layout
    table_schema = None if layout.schema is None else default_schema(connection)
    existing = catalog.table_names(connection)
    present = [d for d in DECLARATIONS if d.table in existing]
    types = {d.table: catalog.column_types(connection, d.table, table_schema) for d in present}
    stamped = {d.table: STAMP_COLUMN for d in present if STAMP_COLUMN in types[d.table]}
    entries = []
    for declaration in present:
        key = catalog.primary_key(connection, declaration.table, table_schema)
        if not key:
            raise CaptureError(
                f"table {declaration.table} has no primary key",
                "history needs a key to tell rows apart; add a primary key and try again",
            )
        compared = catalog.text_compared(connection, declaration.table, table_schema)
        columns = [
            VersionedColumn(
                name=name, kind=_kind_of_sql_type(sql_type), compare_as_text=name in compared
            )
            for name, sql_type in types[declaration.table].items()
            if name != STAMP_COLUMN
        ]
        entries.append(
            _entry(
                declaration,
                key,
                columns,
                declaration.table in stamped,
                stamped,
                layout,
                table_schema,
            )
        )
    return tuple(entries)


def from_models(layout: Layout, table_schema: str | None) -> tuple[VersionedTable, ...]:
    """The entries of a database that our migrations created, from the models,
    with its audit objects in ``layout`` and its live tables in ``table_schema``."""
    tables = Base.metadata.tables
    stamped = {d.table: STAMP_COLUMN for d in DECLARATIONS if STAMP_COLUMN in tables[d.table].c}
    entries = []
    for declaration in DECLARATIONS:
        live = tables[declaration.table]
        version = tables[metadata_key(version_table_name(declaration.table))]
        columns = [
            VersionedColumn(name=column.name, kind=_kind_of_model_type(column))
            for column in version.c
            if column.name not in VERSION_META_COLUMNS
        ]
        key = tuple(column.name for column in live.primary_key.columns)
        entries.append(
            _entry(
                declaration,
                key,
                columns,
                declaration.table in stamped,
                stamped,
                layout,
                table_schema,
            )
        )
    return tuple(entries)
