"""SQLite capture: row-level triggers.

SQLite has one writer at a time, so the single row of
``audittrail_open_transaction`` always belongs to the write transaction in
progress. An :class:`~auditd.versioning.AuditSession` fills it with its
attribution and empties it before COMMIT. A foreign writer (the sqlite3
shell, another program) finds it empty or stamped by an earlier statement,
and its statement gets a transaction row of its own: SQLite offers no way
to see where a foreign transaction begins or ends, so such writers are
grouped per statement (all rows of one statement share the statement's
clock value, ``'now'``). That clock has millisecond resolution: foreign
statements within the same millisecond share a transaction row, and a row
they both changed keeps one version, with the later values.
"""

from __future__ import annotations

from auditd.capture.spec import CaptureSpec, quote
from auditd.timestamps import SQLITE_NOW

_SLOT = "audittrail_open_transaction"
_TX = f"(SELECT transaction_id FROM {_SLOT} WHERE slot = 1)"
_TS = f'(SELECT issued_at FROM "transaction" WHERE id = {_TX})'
_SLOT_USABLE = (
    f"EXISTS (SELECT 1 FROM {_SLOT} WHERE slot = 1"
    f" AND (statement_stamp IS NULL OR statement_stamp = {SQLITE_NOW}))"
)

OPEN_TRANSACTION = f"""
    INSERT INTO "transaction" (issued_at, origin)
        SELECT {SQLITE_NOW}, 'sql' WHERE NOT {_SLOT_USABLE};
    INSERT INTO {_SLOT} (slot, transaction_id, statement_stamp)
        SELECT 1, (SELECT max(id) FROM "transaction"), {SQLITE_NOW} WHERE NOT {_SLOT_USABLE}
        ON CONFLICT (slot) DO UPDATE SET transaction_id = excluded.transaction_id,
            statement_stamp = excluded.statement_stamp, actor = NULL, origin = NULL,
            reason = NULL, remote_addr = NULL;
    INSERT INTO "transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT {SQLITE_NOW}, actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM {_SLOT} WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE {_SLOT} SET transaction_id = (SELECT max(id) FROM "transaction")
     WHERE slot = 1 AND transaction_id IS NULL;"""


def _ref(alias: str, spec: CaptureSpec) -> str:
    return ", ".join(f"{alias}.{quote(c)}" for c in spec.columns)


def _differs(cols: tuple[str, ...]) -> str:
    return "(" + " OR ".join(f"OLD.{quote(c)} IS NOT NEW.{quote(c)}" for c in cols) + ")"


def _close_previous(spec: CaptureSpec, alias: str) -> str:
    match = " AND ".join(f"{quote(k)} = {alias}.{quote(k)}" for k in spec.key)
    return (
        f"UPDATE {quote(spec.version_table)} SET end_transaction_id = {_TX}"
        f" WHERE {match} AND end_transaction_id IS NULL AND transaction_id <> {_TX};"
    )


def _write_version(spec: CaptureSpec, alias: str, operation: str) -> str:
    version = quote(spec.version_table)
    cols = ", ".join(quote(c) for c in spec.columns)
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


def _stamp(spec: CaptureSpec, alias: str, previous: str | None = None) -> str:
    """Stamp the row (and its parents) with the transaction's time.

    A stamp never moves backwards, as on PostgreSQL: an update keeps the
    later of the old stamp (``previous``) and the transaction time; a value
    the writer itself put in the column is ignored.
    """
    statements = []
    if spec.stamp_column:
        match = " AND ".join(f"{quote(k)} = {alias}.{quote(k)}" for k in spec.key)
        stamp = quote(spec.stamp_column)
        value = _TS if previous is None else f"max(coalesce({previous}, ''), {_TS})"
        statements.append(
            f"UPDATE {quote(spec.table)} SET {stamp} = {value}"
            f" WHERE {match} AND {stamp} IS NOT {value};"
        )
    for parent in spec.parents:
        stamp = quote(parent.stamp_column)
        statements.append(
            f"UPDATE {quote(parent.parent_table)} SET {stamp} = {_TS}"
            f" WHERE {quote(parent.parent_key)} = {alias}.{quote(parent.column)}"
            f" AND ({stamp} IS NULL OR {stamp} < {_TS});"
        )
    return "\n    ".join(statements)


def _trigger(spec: CaptureSpec, name: str, event: str, when: str | None, body: str) -> str:
    when_sql = f" WHEN {when}" if when else ""
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {quote(spec.table)} FOR EACH ROW{when_sql}\n"
        f"BEGIN\n    -- {spec.marker()}\n    {OPEN_TRANSACTION}\n    {body}\nEND"
    )


def install_ddl(spec: CaptureSpec) -> list[str]:
    """DDL creating (or replacing) the capture triggers of a table.

    An update that keeps the key and one that changes it get separate
    triggers, so the common case runs only the statements it needs (a
    trigger program runs every statement of its body for every row).
    """
    key_changed = _differs(spec.key)
    old_stamp = f"OLD.{quote(spec.stamp_column)}" if spec.stamp_column else None
    old_parents = _stamp(spec, "OLD") if spec.parents else ""
    insert = "\n    ".join(
        [_close_previous(spec, "NEW"), _write_version(spec, "NEW", "0"), _stamp(spec, "NEW")]
    )
    update = "\n    ".join(
        [
            _close_previous(spec, "OLD"),
            _write_version(spec, "NEW", "1"),
            _stamp(spec, "NEW", old_stamp),
            old_parents,
        ]
    )
    # A new key is a new identity: the old one is deleted, the new inserted.
    rekey = "\n    ".join(
        [
            _close_previous(spec, "OLD"),
            _write_version(spec, "OLD", "2"),
            _close_previous(spec, "NEW"),
            _write_version(spec, "NEW", "0"),
            _stamp(spec, "NEW", old_stamp),
            old_parents,
        ]
    )
    delete = "\n    ".join(
        [_close_previous(spec, "OLD"), _write_version(spec, "OLD", "2"), old_parents]
    )
    name = f"audittrail_{spec.table}"
    statements = [
        *drop_ddl(spec),
        _trigger(spec, f"{name}_insert", "INSERT", None, insert),
        _trigger(spec, f"{name}_rekey", "UPDATE", key_changed, rekey),
        _trigger(spec, f"{name}_delete", "DELETE", None, delete),
    ]
    if spec.value_columns:  # an association is all key: its updates are rekeys
        value_changed = _differs(spec.value_columns)
        statements.append(
            _trigger(
                spec, f"{name}_update", "UPDATE", f"NOT {key_changed} AND {value_changed}", update
            )
        )
    return statements


_OPERATIONS = ("insert", "update", "rekey", "delete")


def trigger_names(spec: CaptureSpec) -> tuple[str, ...]:
    """The triggers :func:`install_ddl` creates for ``spec``."""
    return tuple(
        f"audittrail_{spec.table}_{op}"
        for op in _OPERATIONS
        if op != "update" or spec.value_columns
    )


def drop_ddl(spec: CaptureSpec) -> list[str]:
    """DDL removing a table's capture triggers (every name any spec may use)."""
    return [f"DROP TRIGGER IF EXISTS audittrail_{spec.table}_{op}" for op in _OPERATIONS]
