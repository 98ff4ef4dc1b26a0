"""SQLite capture: row-level triggers.

SQLite has one writer at a time, so the single row of
``audittrail_open_transaction`` always belongs to the write in progress
(:mod:`auditd.capture.attribution.sqlite`). An
:class:`~auditd.capture.attribution.AuditSession` fills it with its
attribution and empties it before COMMIT: its whole transaction is one
transaction row. A foreign writer (the sqlite3 shell, another program) gets
a transaction row per statement, as far as a trigger can tell statements
apart (see there), and a row is never versioned twice under one: however
fast such writers commit, each committed change keeps its own version.
"""

from __future__ import annotations

from auditd.capture import triggers
from auditd.capture.attribution.sqlite import (
    MARK_STATEMENT,
    TRANSACTION_ID,
    issued_at,
    open_transaction,
)
from auditd.capture.generator import marker
from auditd.registry import VersionedTable, quote

_TX = TRANSACTION_ID


def _ref(alias: str, spec: VersionedTable) -> str:
    return ", ".join(f"{alias}.{quote(c)}" for c in spec.column_names)


def _differs(cols: tuple[str, ...]) -> str:
    return "(" + " OR ".join(f"OLD.{quote(c)} IS NOT NEW.{quote(c)}" for c in cols) + ")"


def _close_previous(spec: VersionedTable, alias: str) -> str:
    match = " AND ".join(f"{quote(k)} = {alias}.{quote(k)}" for k in spec.key)
    return (
        f"UPDATE {quote(spec.version_table)} SET end_transaction_id = {_TX}"
        f" WHERE {match} AND end_transaction_id IS NULL AND transaction_id <> {_TX};"
    )


def _write_version(spec: VersionedTable, alias: str, operation: str) -> str:
    version = quote(spec.version_table)
    cols = ", ".join(quote(c) for c in spec.column_names)
    keys = ", ".join(quote(k) for k in spec.key)
    updates = [f"{quote(c)} = excluded.{quote(c)}" for c in spec.value_columns]
    updates.append(
        f"operation_type = CASE WHEN {version}.operation_type = 0"
        " AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END"
    )
    # "WHERE true": without a WHERE, SQLite would parse ON CONFLICT as a join
    # constraint of the SELECT.
    return (
        f"INSERT INTO {version} ({cols}, transaction_id, end_transaction_id, operation_type)"
        f" SELECT {_ref(alias, spec)}, {_TX}, NULL, {operation} WHERE true"
        f" ON CONFLICT ({keys}, transaction_id) DO UPDATE SET {', '.join(updates)};"
    )


def _stamp(spec: VersionedTable, alias: str, previous: str | None = None) -> str:
    """Stamp the row (and its parents) with the transaction's time.

    A stamp never moves backwards, as on PostgreSQL: an update keeps the
    later of the old stamp (``previous``) and the transaction time; a value
    the writer itself put in the column is ignored.
    """
    statements = []
    now = issued_at(spec.transaction_table)
    if spec.stamp_column:
        match = " AND ".join(f"{quote(k)} = {alias}.{quote(k)}" for k in spec.key)
        stamp = quote(spec.stamp_column)
        value = now if previous is None else f"max(coalesce({previous}, ''), {now})"
        statements.append(
            f"UPDATE {quote(spec.table)} SET {stamp} = {value}"
            f" WHERE {match} AND {stamp} IS NOT {value};"
        )
    for parent in spec.parents:
        stamp = quote(parent.stamp_column)
        statements.append(
            f"UPDATE {quote(parent.parent_table)} SET {stamp} = {now}"
            f" WHERE {quote(parent.parent_key)} = {alias}.{quote(parent.column)}"
            f" AND ({stamp} IS NULL OR {stamp} < {now});"
        )
    return "\n    ".join(statements)


def _versioned_row(spec: VersionedTable, alias: str) -> tuple[str, str]:
    """(version table, condition matching the key of row ``alias``), for the slot."""
    version = quote(spec.version_table)
    match = " AND ".join(f"{version}.{quote(k)} = {alias}.{quote(k)}" for k in spec.key)
    return version, match


# Whose versions each trigger writes: the slot checks them (see open_transaction).
_VERSIONED_ROWS: dict[triggers.Role, tuple[str, ...]] = {
    "insert": ("NEW",),
    "update": ("NEW",),
    "rekey": ("OLD", "NEW"),
    "delete": ("OLD",),
}


def _trigger(spec: VersionedTable, trigger: triggers.Trigger, when: str | None, body: str) -> str:
    name = triggers.trigger_name("sqlite", trigger, spec.table)
    when_sql = f" WHEN {when}" if when else ""
    opening = open_transaction(
        spec.transaction_table,
        [_versioned_row(spec, alias) for alias in _VERSIONED_ROWS[trigger.role]],
    )
    return (
        f"CREATE TRIGGER {name} {trigger.timing} {trigger.event} ON {quote(spec.table)}"
        f" FOR EACH ROW{when_sql}\n"
        f"BEGIN\n    -- {marker(spec)}\n    {opening}\n    {body}\n    {MARK_STATEMENT}\nEND"
    )


def _bodies(spec: VersionedTable) -> dict[triggers.Role, tuple[str | None, str]]:
    """Role -> (WHEN condition, body). An update that keeps the key and one
    that changes it get separate triggers, so the common case runs only the
    statements it needs (a trigger program runs every statement of its body
    for every row)."""
    key_changed = _differs(spec.key)
    old_stamp = f"OLD.{quote(spec.stamp_column)}" if spec.stamp_column else None
    old_parents = _stamp(spec, "OLD") if spec.parents else ""
    insert = [_close_previous(spec, "NEW"), _write_version(spec, "NEW", "0"), _stamp(spec, "NEW")]
    update = [
        _close_previous(spec, "OLD"),
        _write_version(spec, "NEW", "1"),
        _stamp(spec, "NEW", old_stamp),
        old_parents,
    ]
    # A new key is a new identity: the old one is deleted, the new inserted.
    rekey = [
        _close_previous(spec, "OLD"),
        _write_version(spec, "OLD", "2"),
        _close_previous(spec, "NEW"),
        _write_version(spec, "NEW", "0"),
        _stamp(spec, "NEW", old_stamp),
        old_parents,
    ]
    delete = [_close_previous(spec, "OLD"), _write_version(spec, "OLD", "2"), old_parents]
    value_changed = _differs(spec.value_columns) if spec.value_columns else "0"
    return {
        "insert": (None, "\n    ".join(insert)),
        "update": (f"NOT {key_changed} AND {value_changed}", "\n    ".join(update)),
        "rekey": (key_changed, "\n    ".join(rekey)),
        "delete": (None, "\n    ".join(delete)),
    }


def install_ddl(spec: VersionedTable) -> list[str]:
    """DDL creating (or replacing) the capture triggers of a table."""
    bodies = _bodies(spec)
    statements = drop_ddl(spec)
    for trigger in triggers.SQLITE:
        if trigger.applies_to(spec):
            when, body = bodies[trigger.role]
            statements.append(_trigger(spec, trigger, when, body))
    return statements


def drop_ddl(spec: VersionedTable) -> list[str]:
    """DDL removing every capture trigger a table may carry."""
    return [
        f"DROP TRIGGER IF EXISTS {triggers.trigger_name('sqlite', trigger, spec.table)}"
        for trigger in triggers.SQLITE
    ]
