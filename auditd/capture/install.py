"""Install and remove capture triggers, recording each table in the registry."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from auditd import registry
from auditd.capture import postgresql, sqlite
from auditd.registry import VersionedTable


def install_ddl(dialect: str, entry: VersionedTable) -> list[str]:
    """The DDL statements installing ``entry``'s triggers on ``dialect``."""
    if dialect == "postgresql":
        return postgresql.install_ddl(entry)
    if dialect == "sqlite":
        return sqlite.install_ddl(entry)
    raise ValueError(f"unsupported database backend: {dialect}")


def install(connection: sa.Connection, entries: Iterable[VersionedTable]) -> None:
    """Create or replace the capture triggers of each table and record its
    entry in the registry, in the caller's transaction (idempotent)."""
    entries = tuple(entries)
    for entry in entries:
        for statement in install_ddl(connection.dialect.name, entry):
            connection.exec_driver_sql(statement)
    registry.save(connection, entries)


def drop(connection: sa.Connection, entries: Iterable[VersionedTable]) -> None:
    """Remove the capture triggers of each table and its registry entry (idempotent)."""
    entries = tuple(entries)
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    for entry in entries:
        for statement in module.drop_ddl(entry):
            connection.exec_driver_sql(statement)
    registry.remove(connection, [entry.table for entry in entries])
