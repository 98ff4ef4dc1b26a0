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
from auditd.models.audit import Transaction
from auditd.models.versioned import VERSION_META_COLUMNS
from auditd.registry import VersionedTable, quote


@dataclass(frozen=True)
class CaptureProblem:
    """One thing `verify` found wrong, with the table it concerns."""

    table: str
    problem: str

    def __str__(self) -> str:
        return f"{self.table}: {self.problem}"


@dataclass(frozen=True)
class _LiveTrigger:
    function: str  # PostgreSQL: the function it calls; SQLite: empty
    enabled: bool
    source: str  # the SQL that implements it


def _live_triggers(connection: sa.Connection, table: str) -> dict[str, _LiveTrigger]:
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            sa.text(
                "SELECT t.tgname, p.proname::text, t.tgenabled <> 'D', p.prosrc"
                " FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE t.tgrelid = to_regclass(:table) AND NOT t.tgisinternal"
            ),
            {"table": quote(table)},
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
    live = _live_triggers(connection, entry.table)
    problems = []
    for name, trigger in triggers.expected(dialect, entry).items():
        found = live.get(name)
        function = (
            triggers.function_name(entry.table, trigger.role) if dialect == "postgresql" else ""
        )
        if found is None:
            problems.append(f"trigger {name} is missing")
        elif found.function != function:
            problems.append(f"trigger {name} calls the wrong function")
        elif not found.enabled:
            problems.append(f"trigger {name} is disabled")
        elif marker(entry) not in found.source:
            problems.append(f"trigger {name} is outdated (columns or generator changed)")
    return problems


def _guard_problems(connection: sa.Connection, table: str) -> list[str]:
    """The append-only guards of a history table that are missing or disabled."""
    live = _live_triggers(connection, table)
    problems = []
    for name in append_only.guard_names(connection.dialect.name, table):
        found = live.get(name)
        if found is None:
            problems.append(f"history guard {name} on {table} is missing")
        elif not found.enabled:
            problems.append(f"history guard {name} on {table} is disabled")
    return problems


def _column_problems(inspector: sa.Inspector, entry: VersionedTable) -> list[str]:
    live = [c["name"] for c in inspector.get_columns(entry.table)]
    versioned = [c["name"] for c in inspector.get_columns(entry.version_table)]
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


def _shared_problems(connection: sa.Connection) -> list[CaptureProblem]:
    """PostgreSQL: the transaction function every capture function calls."""
    if connection.dialect.name != "postgresql":
        return []
    source = connection.scalar(
        sa.text("SELECT prosrc FROM pg_proc WHERE proname = :name"),
        {"name": postgresql.TRANSACTION_FUNCTION_NAME},
    )
    name = postgresql.TRANSACTION_FUNCTION_NAME
    if source is None:
        return [CaptureProblem(name, "function is missing")]
    if postgresql.TRANSACTION_MARKER not in source:
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
    found = _shared_problems(connection) if entries else []
    if entries:
        table = Transaction.__tablename__
        found += [CaptureProblem(table, p) for p in _guard_problems(connection, table)]
    for entry in entries:
        if not inspector.has_table(entry.table):
            found.append(CaptureProblem(entry.table, "table does not exist"))
            continue
        if not inspector.has_table(entry.version_table):
            found.append(CaptureProblem(entry.table, f"{entry.version_table} does not exist"))
            continue
        found += [CaptureProblem(entry.table, p) for p in _column_problems(inspector, entry)]
        found += [CaptureProblem(entry.table, p) for p in _trigger_problems(connection, entry)]
        found += [
            CaptureProblem(entry.table, p) for p in _guard_problems(connection, entry.version_table)
        ]
        merged = merged_changes(connection, entry)
        if merged is not None:
            found.append(CaptureProblem(entry.table, str(merged)))
    return found
