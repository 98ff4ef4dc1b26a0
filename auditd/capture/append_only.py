"""Append-only history: guard triggers on the version and transaction tables.

A committed version or transaction row is never changed or removed, with
two exceptions:

* capture closes the version a change supersedes: ``end_transaction_id``
  goes from NULL to the closing transaction's own id, nothing else moves;
  and it may rewrite the versions its own, uncommitted transaction wrote
  (a row changed twice in one transaction keeps one version);
* retention deletes old history, and the import of an earlier history
  links it to ours, inside :func:`retention`.

Anything else fails: UPDATE (other than the close), DELETE and TRUNCATE of
the history tables. On PostgreSQL the guards back up the privileges (the
application's roles have none on audit tables) against the owner's own
mistakes; the close is recognised by the transaction id, which nobody can
choose (``pg_current_xact_id()``). Retention is sanctioned by a
transaction-local setting naming the transaction, honoured only for a role
that has the table owner's rights: the owner role's members, a superuser,
or a ``SECURITY DEFINER`` function owned by the owner role, which is how a
daemon role without those rights can be given retention.

On SQLite the same guards (``RAISE(ABORT)``) protect against mistakes, not
against whoever can write the database file: such a user can drop them.
There the current transaction is the one the attribution slot names, and
:func:`retention` lifts the delete guards for the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from auditd.capture.attribution.sqlite import TRANSACTION_ID
from auditd.capture.generator import marker, shared_marker
from auditd.capture.postgresql import function_security
from auditd.models.audit import Transaction
from auditd.models.namespace import PREFIX
from auditd.registry import VersionedTable, qualify, quote

RETENTION_SETTING = "audittrail.retention"
GUARD_FUNCTION_NAME = "audittrail_refuse_history_change"
MESSAGE = "history is append-only"

# The transaction table of the current layout, for retention on SQLite.
_TRANSACTION_TABLE = Transaction.__tablename__
_CURRENT_XID = "pg_current_xact_id()::text::bigint"

# PostgreSQL trigger names, per table.
_UPDATE, _DELETE, _TRUNCATE = (
    "audittrail_append_only_update",
    "audittrail_append_only_delete",
    "audittrail_append_only_truncate",
)

_GUARD_BODY = f"""
BEGIN
    -- @marker@
    IF TG_OP IN ('DELETE', 'UPDATE')
       AND current_setting('{RETENTION_SETTING}', true) = pg_current_xact_id()::text
       AND pg_has_role(current_user,
           (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;  -- the row's update goes ahead; a statement trigger ignores it
    END IF;
    RAISE EXCEPTION USING MESSAGE = '{MESSAGE}: ' || TG_OP || ' of ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege',
              HINT = 'history rows are written by capture only and removed by retention only';
END
"""


RETENTION_FUNCTION_NAME = "audittrail_retention_delete"

# Retention for a role without the table owner's rights (the daemon's): the
# function runs as the owner, sets the retention setting for the caller's
# transaction and deletes the rows of one history table whose primary keys
# it is given, never a row's current version. It deletes nothing else: the
# table must carry our delete guard (a version table or the transaction
# table of this audit schema). What it removes is evident anyway: sealed
# rows gone without a prune block listing them fail verify --integrity.
# (No '%' in the body: the driver would take it for a parameter.)
_RETENTION_BODY = f"""
DECLARE
    history regclass := to_regclass(quote_ident(@schema@) || '.' || quote_ident(history_table));
    matched text;
    removed bigint;
    before text := current_setting('{RETENTION_SETTING}', true);
BEGIN
    -- @marker@
    IF history IS NULL OR NOT EXISTS (
        SELECT 1 FROM pg_trigger WHERE tgrelid = history AND tgname = '{_DELETE}'
    ) THEN
        RAISE EXCEPTION USING MESSAGE = 'not a history table: ' || coalesce(history_table, 'NULL'),
            ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg('h.' || quote_ident(a.attname) || ' = k.' || quote_ident(a.attname), ' AND ')
      INTO matched
      FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = history AND i.indisprimary;
    IF EXISTS (
        SELECT 1 FROM pg_attribute
         WHERE attrelid = history AND attname = 'end_transaction_id' AND NOT attisdropped
    ) THEN
        matched := matched || ' AND h.end_transaction_id IS NOT NULL';
    END IF;
    PERFORM set_config('{RETENTION_SETTING}', pg_current_xact_id()::text, true);
    EXECUTE 'DELETE FROM ' || history::text || ' AS h USING jsonb_populate_recordset(NULL::'
        || history::text || ', $1) AS k WHERE ' || matched USING keys;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('{RETENTION_SETTING}', coalesce(before, ''), true);
    RETURN removed;
END
"""


def retention_function_signature(schema: str | None) -> str:
    """The retention function in ``schema``, as regprocedure text."""
    return f"{qualify(schema, RETENTION_FUNCTION_NAME)}(text, jsonb)"


def _retention_function(entry: VersionedTable) -> list[str]:
    schema = entry.audit_schema or "public"
    body = _RETENTION_BODY.replace("@schema@", "'" + schema.replace("'", "''") + "'")
    return [
        f"CREATE OR REPLACE FUNCTION {qualify(entry.audit_schema, RETENTION_FUNCTION_NAME)}"
        f"(history_table text, keys jsonb) RETURNS bigint"
        f" LANGUAGE plpgsql {function_security(entry, definer=True)} AS $$"
        + body.replace("@marker@", shared_marker(_RETENTION_BODY))
        + "$$",
        # Whom retention is given to is a grant (audittrail roles: the daemon).
        f"REVOKE ALL ON FUNCTION {retention_function_signature(entry.audit_schema)} FROM PUBLIC",
    ]


def guard_function_name(entry: VersionedTable) -> str:
    """The guard function of ``entry``'s layout, qualified by its audit schema."""
    return qualify(entry.audit_schema, GUARD_FUNCTION_NAME)


def _guard_function(entry: VersionedTable) -> str:
    # Runs with the caller's rights: the retention check is about who calls.
    return (
        f"CREATE OR REPLACE FUNCTION {guard_function_name(entry)}() RETURNS trigger"
        f" LANGUAGE plpgsql {function_security(entry, definer=False)} AS $$"
        + _GUARD_BODY.replace("@marker@", shared_marker(_GUARD_BODY))
        + "$$"
    )


def postgresql_drop_ddl(qualified_table: str) -> list[str]:
    """DDL removing the guard triggers of a history table (PostgreSQL),
    named quoted and schema-qualified."""
    return [
        f"DROP TRIGGER IF EXISTS {name} ON {qualified_table}"
        for name in (_UPDATE, _DELETE, _TRUNCATE)
    ]


def sqlite_drop_ddl(table: str) -> list[str]:
    """DDL removing the guard triggers of a history table (SQLite)."""
    return [f"DROP TRIGGER IF EXISTS {name}" for name in _sqlite_names(table)]


def _postgresql_triggers(entry: VersionedTable, quoted: str, update_refused: str) -> list[str]:
    """Drop and create the three guard triggers of the history table
    ``quoted`` (qualified). ``update_refused``: the condition (on OLD and
    NEW) under which an UPDATE is refused. DELETE and TRUNCATE are checked
    once per statement."""
    function = guard_function_name(entry)
    return [
        *postgresql_drop_ddl(quoted),
        f"CREATE TRIGGER {_UPDATE} BEFORE UPDATE ON {quoted} FOR EACH ROW"
        f" WHEN ({update_refused}) EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {_DELETE} BEFORE DELETE ON {quoted} FOR EACH STATEMENT"
        f" EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {_TRUNCATE} BEFORE TRUNCATE ON {quoted} FOR EACH STATEMENT"
        f" EXECUTE FUNCTION {function}()",
    ]


def postgresql_shared_ddl(entry: VersionedTable) -> list[str]:
    """The shared part of ``entry``'s layout: the guard function, the
    transaction table's guards (a transaction row is never updated once
    committed) and the retention function."""
    return [
        _guard_function(entry),
        *_postgresql_triggers(
            entry,
            entry.qualified_transaction_table,
            f"OLD.id <> {_CURRENT_XID} OR NEW.id IS DISTINCT FROM OLD.id",
        ),
        *_retention_function(entry),
    ]


def _same(entry: VersionedTable, dialect: str) -> str:
    """SQL: OLD and NEW agree on everything but ``end_transaction_id``."""
    compared = [*entry.column_names, "transaction_id", "operation_type"]
    if dialect == "sqlite":
        return " AND ".join(f"OLD.{quote(c)} IS NEW.{quote(c)}" for c in compared)

    def row(alias: str) -> str:
        values = (
            f"{alias}.{quote(c)}::text" if c in entry.text_compared else f"{alias}.{quote(c)}"
            for c in compared
        )
        return "ROW(" + ", ".join(values) + ")"

    return f"{row('OLD')} IS NOT DISTINCT FROM {row('NEW')}"


def _update_refused(entry: VersionedTable, dialect: str, current: str) -> str:
    """SQL: the update is not one capture makes. A version of the current
    transaction may be rewritten (keeping its transaction); an older one
    only closed, by the current transaction. NULL counts as refused."""
    own = f"OLD.transaction_id = {current} AND NEW.transaction_id = OLD.transaction_id"
    close = (
        f"OLD.end_transaction_id IS NULL AND NEW.end_transaction_id = {current}"
        f" AND {_same(entry, dialect)}"
    )
    false = "false" if dialect == "postgresql" else "0"
    return f"NOT coalesce(({own}) OR ({close}), {false})"


def postgresql_ddl(entry: VersionedTable) -> list[str]:
    """The guard triggers of ``entry``'s version table (PostgreSQL)."""
    return _postgresql_triggers(
        entry, entry.qualified_version_table, _update_refused(entry, "postgresql", _CURRENT_XID)
    )


def guard_names(dialect: str, table: str) -> tuple[str, ...]:
    """The names of the guard triggers a history table carries on ``dialect``."""
    return (_UPDATE, _DELETE, _TRUNCATE) if dialect == "postgresql" else _sqlite_names(table)


def _sqlite_names(table: str) -> tuple[str, str]:
    # Reserved names whether the table's own name is (the audit namespace)
    # or is not (the layout before it).
    base = table if table.startswith(PREFIX) else PREFIX + table
    return f"{base}_append_only_update", f"{base}_append_only_delete"


def _sqlite_triggers(table: str, update_refused: str, mark: str) -> list[str]:
    update, delete = _sqlite_names(table)
    quoted = quote(table)
    refuse = "SELECT RAISE(ABORT, '{message}: {op} of " + table.replace("'", "''") + " refused');"
    return [
        *sqlite_drop_ddl(table),
        f"CREATE TRIGGER {update} BEFORE UPDATE ON {quoted} FOR EACH ROW"
        f" WHEN {update_refused}\nBEGIN\n    -- {mark}\n    "
        + refuse.format(message=MESSAGE, op="UPDATE")
        + "\nEND",
        f"CREATE TRIGGER {delete} BEFORE DELETE ON {quoted} FOR EACH ROW"
        f"\nBEGIN\n    -- {mark}\n    " + refuse.format(message=MESSAGE, op="DELETE") + "\nEND",
    ]


_SQLITE_TRANSACTION_MARK = shared_marker("append-only transaction guards")


def sqlite_shared_ddl(entry: VersionedTable) -> list[str]:
    """The guards of the transaction table of ``entry``'s layout (SQLite): a
    transaction row is never updated (SQLite capture only inserts them)."""
    return _sqlite_triggers(entry.transaction_table, "1", _SQLITE_TRANSACTION_MARK)


def sqlite_ddl(entry: VersionedTable) -> list[str]:
    """The guard triggers of ``entry``'s version table (SQLite): the current
    transaction is the one the attribution slot names."""
    return _sqlite_triggers(
        entry.version_table, _update_refused(entry, "sqlite", TRANSACTION_ID), marker(entry)
    )


def drop_ddl(dialect: str, entry: VersionedTable) -> list[str]:
    """DDL removing the guards of ``entry``'s version table."""
    if dialect == "postgresql":
        return postgresql_drop_ddl(entry.qualified_version_table)
    return sqlite_drop_ddl(entry.version_table)


def drop_shared_ddl(dialect: str, entry: VersionedTable) -> list[str]:
    """DDL removing the guards of the transaction table of ``entry``'s
    layout and, on PostgreSQL, the guard function they all call and the
    retention function."""
    if dialect == "postgresql":
        return [
            *postgresql_drop_ddl(entry.qualified_transaction_table),
            f"DROP FUNCTION IF EXISTS {guard_function_name(entry)}()",
            f"DROP FUNCTION IF EXISTS {retention_function_signature(entry.audit_schema)}",
        ]
    return sqlite_drop_ddl(entry.transaction_table)


@contextmanager
def retention(connection: sa.Connection, version_tables: tuple[str, ...]) -> Iterator[None]:
    """Within the block, the caller's transaction may delete and update
    history rows (retention, the legacy import's validity chain).

    PostgreSQL: sets the transaction-local retention setting; the guards
    honour it only if the connection's role has the table owner's rights
    (otherwise the statement still fails, and so it should). SQLite: drops the
    delete guards of the transaction table and of ``version_tables`` inside
    the caller's transaction and creates them again at the end of the block
    (SQLite's DDL is transactional: a rollback restores them too).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT set_config(:name, pg_current_xact_id()::text, true)"),
            {"name": RETENTION_SETTING},
        )
        yield
        return
    tables = (_TRANSACTION_TABLE, *version_tables)
    kept = {
        name: sql
        for name, sql in connection.execute(
            sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        )
        if name in {_sqlite_names(table)[1] for table in tables}
    }
    for name in kept:
        connection.exec_driver_sql(f"DROP TRIGGER {name}")
    try:
        yield
    finally:
        for sql in kept.values():
            connection.exec_driver_sql(sql)
