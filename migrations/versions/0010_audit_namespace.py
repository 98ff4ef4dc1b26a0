"""The audit namespace: every audit object under a reserved name, in its own schema.

The transaction table becomes ``audittrail_transaction`` and each version
table ``audittrail_<table>_version`` (their indexes and primary keys renamed
alike); on PostgreSQL they, the bookkeeping tables and the capture functions
move into the audit schema (``database.audit_schema``, default
``audittrail``), so that an application's own ``transaction`` or
``events_version`` (Open Event Server's) no longer collides with ours.
Capture generator 9 qualifies every name it writes with the schemas the
registry records, whatever the writer's ``search_path``; every registered
table's triggers are reinstalled with it. History, stamps and the registry
move with their tables: nothing is copied.

Downgrading moves everything back to the layout of revision 0009 and
reinstalls the triggers for it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from alembic import op

from auditd import capture, registry
from auditd.errors import UsageError
from auditd.models.namespace import (
    LEGACY,
    Layout,
    current_layout,
    default_schema,
    legacy_layout,
    qualify,
)
from auditd.registry import VersionedTable

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 9
CAPTURE_SQL_DIGEST = "6b3dd9da4855b8d6d2983a42d9ee8529ec3bf8d68bab70d9dedaf4bdb723367a"

# The bookkeeping tables, whose names were reserved from the start: they
# only change schema.
BOOKKEEPING = (
    "audittrail_capture",
    "audittrail_adoption",
    "audittrail_job_runs",
    "audittrail_job_state",
    "audittrail_open_transaction",
)


def _in_layout(entry: VersionedTable, layout: Layout, table_schema: str | None) -> VersionedTable:
    return replace(
        entry,
        version_table=layout.version_table(entry.table),
        audit_schema=layout.schema,
        table_schema=table_schema,
        transaction_table=layout.transaction_table(),
    )


def _rename_indexes(
    connection: sa.Connection, schema: str | None, table: str, old: str, new: str
) -> None:
    """Give the indexes and primary key of ``table`` (renamed from ``old``)
    the names the models' naming convention gives them under ``new``."""
    inspector = sa.inspect(connection)
    if connection.dialect.name == "postgresql":
        primary = inspector.get_pk_constraint(table, schema=schema).get("name")
        if primary and old in primary:
            connection.exec_driver_sql(
                f"ALTER TABLE {qualify(schema, table)} RENAME CONSTRAINT {qualify(None, primary)}"
                f" TO {qualify(None, primary.replace(old, new, 1))}"
            )
        for index in inspector.get_indexes(table, schema=schema):
            name = str(index["name"])
            if old in name:
                connection.exec_driver_sql(
                    f"ALTER INDEX {qualify(schema, name)}"
                    f" RENAME TO {qualify(None, name.replace(old, new, 1))}"
                )
        return
    # SQLite renames no index: each is made again under its new name.
    rows = connection.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
            " AND sql IS NOT NULL"
        ),
        {"t": table},
    ).all()
    for name, sql in rows:
        if old not in name:
            continue
        renamed = name.replace(old, new, 1)
        connection.exec_driver_sql(f"DROP INDEX {qualify(None, name)}")
        connection.exec_driver_sql(
            sql.replace(f'"{name}"', qualify(None, renamed), 1).replace(
                f" {name} ", f" {qualify(None, renamed)} ", 1
            )
        )


def _move(
    connection: sa.Connection, table: str, source: str | None, target: str | None, new: str
) -> None:
    """Move ``table`` from schema ``source`` to ``target`` (None: stay) as
    ``new``, with its indexes, primary key and id sequence renamed alike."""
    if table != new:
        connection.exec_driver_sql(
            f"ALTER TABLE {qualify(source, table)} RENAME TO {qualify(None, new)}"
        )
        _rename_indexes(connection, source, new, table, new)
    if connection.dialect.name != "postgresql":
        return
    if target is not None and source != target:
        connection.exec_driver_sql(
            f"ALTER TABLE {qualify(source, new)} SET SCHEMA {qualify(None, target)}"
        )
    if table == new:
        return
    # The transaction table's id sequence (its ids are xids on PostgreSQL,
    # but the column keeps its default) is named after the table too.
    sequences = connection.execute(
        sa.text(
            "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid"
            " WHERE s.relkind = 'S' AND d.deptype = 'a'"
            " AND d.refobjid = to_regclass(:table)"
        ),
        {"table": qualify(target or source, new)},
    ).scalars()
    for sequence in list(sequences):
        if sequence.startswith(f"{table}_"):
            connection.exec_driver_sql(
                f"ALTER SEQUENCE {qualify(target or source, sequence)}"
                f" RENAME TO {qualify(None, new + sequence[len(table) :])}"
            )


def _relocate(connection: sa.Connection, tables: list[str], source: Layout, target: Layout) -> None:
    """Move the transaction table, the version tables of ``tables`` and (on
    PostgreSQL) the bookkeeping tables from layout ``source`` to ``target``."""
    default = default_schema(connection)
    source_schema, target_schema = source.schema or default, target.schema or default
    moves = [(source.transaction_table(), target.transaction_table())]
    moves += [(source.version_table(t), target.version_table(t)) for t in tables]
    if connection.dialect.name == "postgresql":
        moves += [(t, t) for t in BOOKKEEPING]
    for old, new in moves:
        if sa.inspect(connection).has_table(old, schema=source_schema):
            _move(connection, old, source_schema, target_schema, new)


def _record_version_tables(connection: sa.Connection, layout: Layout) -> None:
    """Adopted tables: the adoption record names their version tables."""
    adoption = qualify(layout.schema, "audittrail_adoption")
    rows = connection.execute(sa.text(f"SELECT table_name FROM {adoption}")).scalars().all()
    for table in rows:
        connection.execute(
            sa.text(f"UPDATE {adoption} SET version_table = :v WHERE table_name = :t"),
            {"v": layout.version_table(table), "t": table},
        )


def upgrade() -> None:
    connection = op.get_bind()
    layout = current_layout(connection)
    with legacy_layout(connection):
        legacy = tuple(registry.load(connection))
        capture.drop(connection, legacy)
    if legacy:
        capture.drop_shared(connection, legacy[0])
    _relocate(connection, [entry.table for entry in legacy], LEGACY, layout)
    table_schema = None if layout.schema is None else default_schema(connection)
    _record_version_tables(connection, layout)
    capture.install(connection, [_in_layout(entry, layout, table_schema) for entry in legacy])


def _refuse_taken_names(connection: sa.Connection, tables: list[str]) -> None:
    """Revision 0009's names belong to the application in an adopted Open
    Event database (its own transaction, events_version): moving back would
    take them."""
    taken = registry.catalog.table_names(connection) & {
        LEGACY.transaction_table(),
        *(LEGACY.version_table(table) for table in tables),
    }
    if taken:
        raise UsageError(
            f"cannot downgrade below revision 0010: the application's own"
            f" {', '.join(sorted(taken))} hold the names revision 0009 used",
            "stay at revision 0010 or later on this database",
        )


def downgrade() -> None:
    connection = op.get_bind()
    layout = current_layout(connection)
    current = tuple(registry.load(connection))
    _refuse_taken_names(connection, [entry.table for entry in current])
    capture.drop(connection, current)
    if current:
        capture.drop_shared(connection, current[0])
    _relocate(connection, [entry.table for entry in current], layout, LEGACY)
    _record_version_tables(connection, LEGACY)
    with legacy_layout(connection):
        capture.install(connection, [_in_layout(entry, LEGACY, None) for entry in current])
