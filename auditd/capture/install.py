"""Install and remove capture triggers, recording each table in the registry."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from auditd import registry
from auditd.capture import append_only, claimed_context, ownership, postgresql, sqlite
from auditd.registry import VersionedTable


def shared_ddl(dialect: str, entry: VersionedTable) -> list[str]:
    """The DDL every table of ``entry``'s layout relies on: on PostgreSQL the
    functions shared by all tables (transaction row, claimed context,
    history guard) and the transaction table's guards; on SQLite the
    latter."""
    if dialect == "postgresql":
        return [
            *claimed_context.context_ddl(entry),
            *postgresql.transaction_ddl(entry),
            *append_only.postgresql_shared_ddl(entry),
        ]
    if dialect == "sqlite":
        return append_only.sqlite_shared_ddl(entry)
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
        for statement in shared_ddl(dialect, entries[0]):
            connection.exec_driver_sql(statement)
    for entry in entries:
        for statement in install_ddl(dialect, entry):
            connection.exec_driver_sql(statement)
    if dialect == "postgresql" and entries:
        for statement in ownership.ownership_ddl(connection, entries):
            connection.exec_driver_sql(statement)
    registry.save(connection, entries)


def drop(connection: sa.Connection, entries: Iterable[VersionedTable]) -> None:
    """Remove the capture triggers of each table, the guards of its version
    table and its registry entry (idempotent)."""
    entries = tuple(entries)
    dialect = connection.dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    for entry in entries:
        for statement in [*module.drop_ddl(entry), *append_only.drop_ddl(dialect, entry)]:
            connection.exec_driver_sql(statement)
    registry.remove(connection, [entry.table for entry in entries])


def drop_shared(connection: sa.Connection, entry: VersionedTable) -> None:
    """Remove what every table of ``entry``'s layout shares (see
    :func:`shared_ddl`), once no table's capture uses it (idempotent)."""
    dialect = connection.dialect.name
    statements = append_only.drop_shared_ddl(dialect, entry)
    if dialect == "postgresql":
        statements += [
            f"DROP FUNCTION IF EXISTS {postgresql.transaction_function_name(entry)}()",
            *claimed_context.drop_ddl(entry.audit_schema),
        ]
    for statement in statements:
        connection.exec_driver_sql(statement)


def drop_guards(connection: sa.Connection, entries: Iterable[VersionedTable]) -> None:
    """Remove the append-only guards of the history tables of ``entries``
    (idempotent). The capture functions, which call the context functions,
    stay."""
    entries = tuple(entries)
    if not entries:
        return
    dialect = connection.dialect.name
    statements = [
        *(statement for entry in entries for statement in append_only.drop_ddl(dialect, entry)),
        *append_only.drop_shared_ddl(dialect, entries[0]),
    ]
    for statement in statements:
        connection.exec_driver_sql(statement)
