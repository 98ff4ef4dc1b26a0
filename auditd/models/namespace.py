"""Where audit objects live, and the one function naming each kind of them.

Every object auditd creates is reserved to it, so no application object can
collide with one: its names start with ``audittrail_`` (the transaction
table ``audittrail_transaction``, version tables
``audittrail_<table>_version``, bookkeeping tables, trigger functions,
settings ``audittrail.*``) and, on PostgreSQL, the tables and functions also
live in a schema of their own (``database.audit_schema``, default
``audittrail``). An Open Event Server database keeps its own
``transaction``, ``events_version`` and ``alembic_version`` beside ours.

The models declare their audit tables in the placeholder schema
:data:`AUDIT_SCHEMA`; every engine translates it (SQLAlchemy's
``schema_translate_map``, set by :func:`auditd.db.create_engine`) to the
configured schema on PostgreSQL and to no schema on SQLite. Generated SQL
(trigger functions, adopt's statements) cannot be translated: it qualifies
every name with the schemas a registry entry records.

Revisions before 0010 used the :data:`LEGACY` layout (``transaction``,
``<table>_version``, everything in the connection's default schema); the
migrations that ran then still describe their objects with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from auditd.config.schema_name import DEFAULT_AUDIT_SCHEMA

# The placeholder schema of the models' audit tables (translated by every engine).
AUDIT_SCHEMA = DEFAULT_AUDIT_SCHEMA

# The prefix of every audit object's name.
PREFIX = "audittrail_"


@dataclass(frozen=True)
class Layout:
    """How audit objects are named and where they live in one database.

    ``schema`` is the PostgreSQL schema of the audit tables and functions
    (None: unqualified, the connection's default schema; always None on
    SQLite); ``prefix`` starts every audit table's name.
    """

    schema: str | None
    prefix: str = PREFIX

    def transaction_table(self) -> str:
        """The name of the transaction table every version row points to."""
        return f"{self.prefix}transaction"

    def version_table(self, table: str) -> str:
        """The name of ``table``'s version table."""
        return f"{self.prefix}{table}_version"


# The layout of revisions 0001 to 0009.
LEGACY = Layout(schema=None, prefix="")


def transaction_table_name() -> str:
    """The transaction table's name in the current layout."""
    return Layout(AUDIT_SCHEMA).transaction_table()


def version_table_name(table: str) -> str:
    """``table``'s version table's name in the current layout."""
    return Layout(AUDIT_SCHEMA).version_table(table)


def quote(name: str) -> str:
    """Quote an identifier for both PostgreSQL and SQLite."""
    return '"' + name.replace('"', '""') + '"'


def qualify(schema: str | None, name: str) -> str:
    """``name`` quoted, qualified by ``schema`` unless that is None."""
    return quote(name) if schema is None else f"{quote(schema)}.{quote(name)}"


def metadata_key(name: str) -> str:
    """The key of the audit table ``name`` in the models' metadata."""
    return f"{AUDIT_SCHEMA}.{name}"


def audit_schema(connection: sa.Connection) -> str | None:
    """The schema audit objects live in for ``connection`` (None on SQLite)."""
    if connection.dialect.name != "postgresql":
        return None
    translated = connection.get_execution_options().get("schema_translate_map") or {}
    schema = translated.get(AUDIT_SCHEMA, AUDIT_SCHEMA)
    return None if schema is None else str(schema)


def default_schema(connection: sa.Connection) -> str | None:
    """The schema unqualified names resolve to (None on SQLite)."""
    if connection.dialect.name != "postgresql":
        return None
    return str(connection.scalar(sa.text("SELECT current_schema()")))


def current_layout(connection: sa.Connection) -> Layout:
    """The layout this build uses on ``connection``'s database."""
    return Layout(audit_schema(connection))


@contextmanager
def legacy_layout(connection: sa.Connection) -> Iterator[sa.Connection]:
    """``connection`` reading the models' audit tables where revisions before
    0010 kept them (the default schema), for the migrations of that time."""
    before = connection.get_execution_options().get("schema_translate_map")
    connection.execution_options(schema_translate_map={AUDIT_SCHEMA: None})
    try:
        yield connection
    finally:
        connection.execution_options(schema_translate_map=before)
