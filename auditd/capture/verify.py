"""Check that capture is complete: every trigger present, enabled and current.

Anything that would let a change go unrecorded, or recorded history be
changed, is reported per table: a missing, disabled or outdated trigger
(or, on PostgreSQL, the shared transaction function), a missing or
disabled append-only guard of a history table, a missing version table, a live column that the
version table or the triggers do not cover, and a captured column that no
longer exists. On SQLite, versions that show a change already went
unrecorded are reported too (:mod:`.merged_changes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from auditd import registry
from auditd.capture import append_only, postgresql, triggers
from auditd.capture.generator import marker
from auditd.capture.merged_changes import merged_changes
from auditd.models.namespace import default_schema
from auditd.models.versioned import VERSION_META_COLUMNS
from auditd.registry import VersionedTable, qualify


@dataclass(frozen=True)
class CaptureProblem:
    """One thing `verify` found wrong, with the table it concerns."""

    table: str
    problem: str

    def __str__(self) -> str:
        return f"{self.table}: {self.problem}"


@dataclass(frozen=True)
class _LiveTrigger:
    function: str  # PostgreSQL: schema.name of the function it calls; SQLite: empty
    enabled: bool
    source: str  # the SQL that implements it


def _live_triggers(connection: sa.Connection, entry: VersionedTable) -> dict[str, _LiveTrigger]:
    return _triggers_on(connection, entry.qualified_table, entry.table)


def _triggers_on(connection: sa.Connection, qualified: str, table: str) -> dict[str, _LiveTrigger]:
    """The triggers on ``table`` (``qualified``: quoted, with its schema)."""
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            sa.text(
                "SELECT t.tgname, n.nspname || '.' || p.proname,"
                " t.tgenabled <> 'D', p.prosrc"
                " FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                " JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE t.tgrelid = to_regclass(:table) AND NOT t.tgisinternal"
            ),
            {"table": qualified},
        )
        return {
            name: _LiveTrigger(function, enabled, source)
            for name, function, enabled, source in rows
        }
    rows = connection.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
        {"t": table},
    )
    return {name: _LiveTrigger("", True, source) for name, source in rows}


def _trigger_problems(connection: sa.Connection, entry: VersionedTable) -> list[str]:
    dialect = connection.dialect.name
    live = _live_triggers(connection, entry)
    problems = []
    for name, trigger in triggers.expected(dialect, entry).items():
        found = live.get(name)
        function = triggers.function_name(entry.table, trigger.role)
        if found is None:
            problems.append(f"trigger {name} is missing")
        elif dialect == "postgresql" and found.function != _qualified_function(
            connection, entry, function
        ):
            problems.append(f"trigger {name} calls the wrong function")
        elif not found.enabled:
            problems.append(f"trigger {name} is disabled")
        elif marker(entry) not in found.source:
            problems.append(f"trigger {name} is outdated (columns or generator changed)")
    return problems


def _qualified_function(connection: sa.Connection, entry: VersionedTable, name: str) -> str:
    """``schema.name`` of the function ``name`` in ``entry``'s audit schema."""
    schema = entry.audit_schema or default_schema(connection)
    return f"{schema}.{name}"


def _guard_problems(connection: sa.Connection, entry: VersionedTable, table: str) -> list[str]:
    """The append-only guards of the history table ``table`` (in ``entry``'s
    audit schema) that are missing or disabled."""
    live = _triggers_on(connection, qualify(entry.audit_schema, table), table)
    problems = []
    for name in append_only.guard_names(connection.dialect.name, table):
        found = live.get(name)
        if found is None:
            problems.append(f"history guard {name} on {table} is missing")
        elif not found.enabled:
            problems.append(f"history guard {name} on {table} is disabled")
    return problems


def _column_problems(inspector: sa.Inspector, entry: VersionedTable) -> list[str]:
    live = [c["name"] for c in inspector.get_columns(entry.table, schema=entry.table_schema)]
    versioned = [
        c["name"] for c in inspector.get_columns(entry.version_table, schema=entry.audit_schema)
    ]
    captured = entry.column_names
    problems = []
    for column in live:
        if column == entry.stamp_column:
            continue
        if column not in versioned:
            problems.append(f"column {column} is not in {entry.version_table}")
        elif column not in captured:
            problems.append(f"column {column} is not captured by the triggers")
    # The triggers name every captured column: once one is dropped, every
    # write to the table fails (PostgreSQL) until they are regenerated.
    problems += [
        f"captured column {column} no longer exists (writes fail until the triggers are"
        " regenerated)"
        for column in captured
        if column not in live
    ]
    problems += [
        f"{entry.version_table} lacks {meta}"
        for meta in VERSION_META_COLUMNS
        if meta not in versioned
    ]
    return problems


def _shared_problems(
    connection: sa.Connection, entries: Sequence[VersionedTable]
) -> list[CaptureProblem]:
    """PostgreSQL: the transaction function every capture function calls."""
    if connection.dialect.name != "postgresql" or not entries:
        return []
    entry = entries[0]
    source = connection.scalar(
        sa.text(
            "SELECT prosrc FROM pg_proc WHERE oid = to_regproc(:name)"
            " AND pronargs = 0 AND prokind = 'f'"
        ),
        {"name": postgresql.transaction_function_name(entry)},
    )
    name = postgresql.TRANSACTION_FUNCTION_NAME
    if source is None:
        return [CaptureProblem(name, "function is missing")]
    if postgresql.transaction_marker(entry) not in source:
        return [CaptureProblem(name, "function is outdated (generator changed)")]
    return []


def verify(
    connection: sa.Connection, entries: Sequence[VersionedTable] | None = None
) -> list[CaptureProblem]:
    """Everything that would let a change go unrecorded, per table.

    Checks ``entries`` (default: every table of the registry) and the shared
    transaction function, and on SQLite searches their history for versions
    that show two changes of one row in one foreign transaction row. An
    empty list means capture is complete.
    """
    if entries is None:
        entries = tuple(registry.load(connection))
    inspector = sa.inspect(connection)
    found = _shared_problems(connection, entries)
    if entries:
        table = entries[0].transaction_table
        found += [CaptureProblem(table, p) for p in _guard_problems(connection, entries[0], table)]
    for entry in entries:
        if not inspector.has_table(entry.table, schema=entry.table_schema):
            found.append(CaptureProblem(entry.table, "table does not exist"))
            continue
        if not inspector.has_table(entry.version_table, schema=entry.audit_schema):
            found.append(CaptureProblem(entry.table, f"{entry.version_table} does not exist"))
            continue
        found += [CaptureProblem(entry.table, p) for p in _column_problems(inspector, entry)]
        found += [CaptureProblem(entry.table, p) for p in _trigger_problems(connection, entry)]
        found += [
            CaptureProblem(entry.table, p)
            for p in _guard_problems(connection, entry, entry.version_table)
        ]
        merged = merged_changes(connection, entry)
        if merged is not None:
            found.append(CaptureProblem(entry.table, str(merged)))
    return found
