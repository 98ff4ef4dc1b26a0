"""Install and remove capture triggers, recording each table in the registry."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from auditd import registry
from auditd.capture import append_only, claimed_context, ownership, postgresql, sqlite
from auditd.registry import VersionedTable


def shared_ddl(dialect: str) -> list[str]:
    """The DDL every table's capture relies on: on PostgreSQL the functions
    shared by all tables (transaction row, claimed context, history guard)
    and the transaction table's guards; on SQLite the latter."""
    if dialect == "postgresql":
        return [
            *claimed_context.CONTEXT_DDL,
            *postgresql.TRANSACTION_DDL,
            *append_only.POSTGRESQL_SHARED_DDL,
        ]
    if dialect == "sqlite":
        return list(append_only.SQLITE_SHARED_DDL)
    raise ValueError(f"unsupported database backend: {dialect}")


def install_ddl(dialect: str, entry: VersionedTable) -> list[str]:
    """The DDL statements installing ``entry``'s triggers on ``dialect``:
    capture on the table, the append-only guards on its version table."""
    if dialect == "postgresql":
        return [*postgresql.install_ddl(entry), *append_only.postgresql_ddl(entry)]
    if dialect == "sqlite":
        return [*sqlite.install_ddl(entry), *append_only.sqlite_ddl(entry)]
    raise ValueError(f"unsupported database backend: {dialect}")


def install(connection: sa.Connection, entries: Iterable[VersionedTable]) -> None:
    """Create or replace the capture triggers of each table (and what they
    share) and record its entry in the registry, in the caller's
    transaction (idempotent). On PostgreSQL, functions created here are
    handed to the owner of the transaction table, the audit owner once
    ``audittrail roles`` has run, so that capture keeps running with its
    rights and not with the installer's."""
    entries = tuple(entries)
    dialect = connection.dialect.name
    if entries:
        for statement in shared_ddl(dialect):
            connection.exec_driver_sql(statement)
    for entry in entries:
        for statement in install_ddl(dialect, entry):
            connection.exec_driver_sql(statement)
    if dialect == "postgresql" and entries:
        for statement in ownership.ownership_ddl(connection, entries):
            connection.exec_driver_sql(statement)
    registry.save(connection, entries)


def drop(connection: sa.Connection, tables: Iterable[str]) -> None:
    """Remove the capture triggers of each table and its registry entry (idempotent)."""
    tables = tuple(tables)
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    for table in tables:
        for statement in module.drop_ddl(table):
            connection.exec_driver_sql(statement)
    registry.remove(connection, tables)
