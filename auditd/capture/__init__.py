"""Database-level change capture: one writer of version rows for everyone.

Triggers on every versioned table write Continuum-shaped version rows (and
the transaction row) for ORM writes, bulk statements, raw SQL and other
applications alike, and keep ``last_modified_at`` stamped in the same
statement. :func:`install` is called by migrations and ``adopt``;
:func:`verify` backs ``audittrail verify``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from auditd.capture import postgresql, sqlite
from auditd.capture.spec import CaptureSpec, ParentStamp, quote
from auditd.timestamps import UTCDateTime, utcnow

__all__ = [
    "CaptureProblem",
    "CaptureSpec",
    "ParentStamp",
    "drop",
    "install",
    "install_ddl",
    "installed_specs",
    "quote",
    "verify",
]

VERSION_META_COLUMNS = ("transaction_id", "end_transaction_id", "operation_type")


def install_ddl(dialect: str, spec: CaptureSpec) -> list[str]:
    """The DDL statements installing ``spec``'s triggers on ``dialect``."""
    if dialect == "postgresql":
        return postgresql.install_ddl(spec)
    if dialect == "sqlite":
        return sqlite.install_ddl(spec)
    raise ValueError(f"unsupported database backend: {dialect}")


_registry = sa.table(
    "audittrail_capture",
    sa.column("table_name"),
    sa.column("spec"),
    sa.column("installed_at", UTCDateTime()),
)


def install(connection: sa.Connection, specs: Iterable[CaptureSpec]) -> None:
    """Create or replace the capture triggers of each table and record the
    spec in ``audittrail_capture`` (idempotent)."""
    for spec in specs:
        for statement in install_ddl(connection.dialect.name, spec):
            connection.exec_driver_sql(statement)
        connection.execute(_registry.delete().where(_registry.c.table_name == spec.table))
        connection.execute(
            _registry.insert().values(
                table_name=spec.table, spec=spec.to_json(), installed_at=utcnow()
            )
        )


def drop(connection: sa.Connection, specs: Iterable[CaptureSpec]) -> None:
    """Remove the capture triggers of each table and its registration (idempotent)."""
    for spec in specs:
        module = postgresql if connection.dialect.name == "postgresql" else sqlite
        for statement in module.drop_ddl(spec):
            connection.exec_driver_sql(statement)
        connection.execute(_registry.delete().where(_registry.c.table_name == spec.table))


def installed_specs(connection: sa.Connection) -> list[CaptureSpec]:
    """The specs recorded by :func:`install`, in table-name order."""
    rows = connection.execute(sa.select(_registry.c.spec).order_by(_registry.c.table_name))
    return [CaptureSpec.from_json(text) for (text,) in rows]


@dataclass(frozen=True)
class CaptureProblem:
    """One thing `verify` found wrong, with the table it concerns."""

    table: str
    problem: str

    def __str__(self) -> str:
        return f"{self.table}: {self.problem}"


def _live_triggers(connection: sa.Connection, table: str) -> dict[str, str]:
    """Trigger name → the SQL that implements it (function body or trigger text)."""
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            sa.text(
                "SELECT t.tgname, p.proname::text || ':' || t.tgenabled::text || ':' || p.prosrc"
                " FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE t.tgrelid = to_regclass(:table) AND NOT t.tgisinternal"
            ),
            {"table": quote(table)},
        )
    else:
        rows = connection.execute(
            sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": table},
        )
    return {name: sql for name, sql in rows}


def _trigger_problems(connection: sa.Connection, spec: CaptureSpec) -> list[str]:
    live = _live_triggers(connection, spec.table)
    if connection.dialect.name == "postgresql":
        expected = postgresql.expected_triggers(spec)
    else:
        expected = {name: "" for name in sqlite.trigger_names(spec)}
    problems = []
    for name, function in expected.items():
        sql = live.get(name)
        if sql is None:
            problems.append(f"trigger {name} is missing")
        elif function and not sql.startswith(function + ":"):
            problems.append(f"trigger {name} calls the wrong function")
        elif connection.dialect.name == "postgresql" and sql.split(":")[1] == "D":
            problems.append(f"trigger {name} is disabled")
        elif spec.marker() not in sql:
            problems.append(f"trigger {name} is outdated (columns or generator changed)")
    return problems


def _column_problems(inspector: sa.Inspector, spec: CaptureSpec) -> list[str]:
    live = [c["name"] for c in inspector.get_columns(spec.table)]
    versioned = [c["name"] for c in inspector.get_columns(spec.version_table)]
    problems = []
    for column in live:
        if column == spec.stamp_column:
            continue
        if column not in versioned:
            problems.append(f"column {column} is not in {spec.version_table}")
        elif column not in spec.columns:
            problems.append(f"column {column} is not captured by the triggers")
    # The triggers name every captured column: once one is dropped, every
    # write to the table fails (PostgreSQL) until they are regenerated.
    problems += [
        f"captured column {column} no longer exists (writes fail until the triggers are"
        " regenerated)"
        for column in spec.columns
        if column not in live
    ]
    problems += [
        f"{spec.version_table} lacks {meta}"
        for meta in VERSION_META_COLUMNS
        if meta not in versioned
    ]
    return problems


def verify(
    connection: sa.Connection, specs: Sequence[CaptureSpec] | None = None
) -> list[CaptureProblem]:
    """Everything that would let a change go unrecorded, per table.

    Checks ``specs`` (default: every spec in the ``audittrail_capture``
    registry) and reports missing, disabled or outdated triggers, a missing
    version table, and live columns that the version table or the triggers
    do not cover. An empty list means capture is complete.
    """
    if specs is None:
        specs = installed_specs(connection)
    inspector = sa.inspect(connection)
    found: list[CaptureProblem] = []
    for spec in specs:
        if not inspector.has_table(spec.table):
            found.append(CaptureProblem(spec.table, "table does not exist"))
            continue
        if not inspector.has_table(spec.version_table):
            found.append(CaptureProblem(spec.table, f"{spec.version_table} does not exist"))
            continue
        found += [CaptureProblem(spec.table, p) for p in _column_problems(inspector, spec)]
        found += [CaptureProblem(spec.table, p) for p in _trigger_problems(connection, spec)]
    return found
