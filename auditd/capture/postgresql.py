"""PL/pgSQL capture: row-level triggers, set-based for multi-row statements.

An ``AFTER`` row trigger writes the row's version and closes the version it
supersedes; a ``BEFORE`` row trigger stamps ``last_modified_at``. Row-level
beats statement-level triggers here for the common case: applications
write a row per statement, and each statement-level call paid for a plan of
joins over the transition tables (measured: 2.2x the cost per single-row
statement on ``sessions``), while each row-level statement is a cached
single-row insert or key lookup. The old and new row also come paired, so a
key change is exactly "delete the old key, insert the new one".

A statement that changes many rows would pay that per-row statement once
per row (a 500-row ``UPDATE`` cost 8x the same statement without capture).
So the row triggers also declare the statement's transition tables, and
the first row's call of a multi-row statement versions every row of the
statement with one set-based statement, then leaves a note (a
transaction-local setting: table, trigger depth, rows still to come) that
lets the calls for the other rows return at once. A statement that changes
a key is versioned row by row, where old and new rows come paired.
Versioning a row twice in one transaction is idempotent (the version
insert merges on (key, transaction id)), so the note only saves work, and
it is exact: the after-row calls of one statement run one after another at
its own trigger depth; a statement nested in them runs at a deeper one.

TRUNCATE, which fires no row triggers, gets a statement trigger that
records a delete of every row before the table is emptied.

Correct under concurrency because an UPDATE or DELETE holds the row locks of
the rows it changed until commit: a second writer of the same row blocks
until the first commits, and its trigger's statements (each with a fresh
READ COMMITTED snapshot, as ``AFTER`` row triggers run once the statement is
done) then see and close the first writer's version, so every row keeps
exactly one current version.

Every name in the generated SQL is schema-qualified from the registry
entry (the live table by its schema, the version and transaction tables
and the functions by the audit schema): what they read and write does not
depend on the writing role's ``search_path`` (an Open Event app connection
has the default one), and no object of the application's schema can stand
in for one of ours.

Every function that writes history runs with the audit owner's rights
(``SECURITY DEFINER``, :func:`function_security`), so the roles that write
the live tables need no privilege on any audit table: capture is the only
way in. The transaction row's claimed context is trusted only when the
context function signed it (:mod:`auditd.capture.claimed_context`); the
database role, client address and application are recorded always, by the
columns' defaults (``session_user`` is not changed by ``SECURITY DEFINER``).
"""

from __future__ import annotations

from auditd.capture import triggers
from auditd.capture.attribution.postgresql import (
    ACTOR_SETTING,
    CONTEXT_MAC_FUNCTION_NAME,
    CONTEXT_MAC_SETTING,
    ORIGIN_SETTING,
    REASON_SETTING,
    REMOTE_ADDR_SETTING,
    TX_SETTING,
    published,
)
from auditd.capture.generator import marker, shared_marker
from auditd.registry import VersionedTable, qualify, quote


def function_security(spec: VersionedTable, *, definer: bool) -> str:
    """The clauses a generated function carries: ``SECURITY DEFINER`` for the
    functions that write history as the audit owner, and for every function
    a fixed search path.

    Every name the functions use is qualified, so the path only decides how
    built-ins and operators resolve: pg_catalog comes first, so that a role
    allowed to create objects in a schema on the path cannot shadow a
    built-in the capture calls and have it run with the owner's rights;
    then the audit schema (the registry's, or ``public`` for the layout
    before it existed); pg_temp comes last and is named, since left out it
    would be searched first, and any session could create a temporary
    object that stands in for one of ours.
    """
    security = "SECURITY DEFINER " if definer else ""
    path = ("pg_catalog", quote(spec.audit_schema or "public"), "pg_temp")
    return f"{security}SET search_path = {', '.join(path)}"


TRANSACTION_FUNCTION_NAME = "audittrail_tx"
# The daemon LISTENs here to sync within seconds of a commit (auditd.daemon.changes).
CHANGES_CHANNEL = "audittrail_changes"

# Creates (or finds) the transaction row of the current database transaction.
# The id is the 64-bit xid, so no session state is needed; the setting only
# caches it for the stamp triggers. The claimed context (actor, origin,
# reason, remote address) is taken only when its signature verifies, that is
# when the context function published it in this transaction; anything else
# a session set is ignored, and the writer is recorded as origin 'sql' under
# its database role and address. db_role, client_addr and application are
# filled by the columns' defaults, whoever inserts. The transaction that
# creates its row also notifies CHANGES_CHANNEL: PostgreSQL delivers a
# notification at commit only (never after a rollback) and folds identical
# ones of one transaction into one.
_TRANSACTION_BODY = """
DECLARE
    claimed boolean := false;
BEGIN
    -- @marker@
    tx := pg_current_xact_id()::text::bigint;
    IF @published_origin@ IS NOT NULL THEN
        claimed := coalesce(current_setting('@mac_setting@', true)
            = @mac_function@(tx, @claimed@), false);
    END IF;
    INSERT INTO @transaction@ AS t
        (id, issued_at, actor, origin, reason, remote_addr, application)
    VALUES (
        tx,
        statement_timestamp(),
        CASE WHEN claimed THEN @published_actor@ ELSE session_user::text END,
        CASE WHEN claimed THEN @published_origin@ ELSE 'sql' END,
        CASE WHEN claimed THEN @published_reason@ END,
        CASE WHEN claimed THEN @published_remote_addr@
             ELSE host(inet_client_addr()) END,
        nullif(current_setting('application_name'), '')
    )
    ON CONFLICT (id) DO NOTHING
    RETURNING t.issued_at INTO issued_at;
    IF issued_at IS NULL THEN
        SELECT t.issued_at INTO issued_at FROM @transaction@ t WHERE t.id = tx;
    ELSE
        PERFORM pg_notify('@channel@', '');
    END IF;
    PERFORM set_config(
        '@tx_setting@',
        tx::text || '|' || to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
            || '+00',
        true);
END
"""


def _transaction_body(spec: VersionedTable) -> str:
    """The transaction function's body for the transaction table of ``spec``."""
    values = {
        "@published_origin@": published(ORIGIN_SETTING),
        "@published_actor@": published(ACTOR_SETTING),
        "@published_reason@": published(REASON_SETTING),
        "@published_remote_addr@": published(REMOTE_ADDR_SETTING),
        "@transaction@": spec.qualified_transaction_table,
        "@mac_setting@": CONTEXT_MAC_SETTING,
        "@mac_function@": qualify(spec.audit_schema, CONTEXT_MAC_FUNCTION_NAME),
        "@claimed@": ", ".join(
            published(name)
            for name in (ACTOR_SETTING, ORIGIN_SETTING, REASON_SETTING, REMOTE_ADDR_SETTING)
        ),
        "@channel@": CHANGES_CHANNEL,
        "@tx_setting@": TX_SETTING,
    }
    body = _TRANSACTION_BODY
    for placeholder, value in values.items():
        body = body.replace(placeholder, value)
    return body


def transaction_function_name(spec: VersionedTable) -> str:
    """The shared transaction function, qualified by ``spec``'s audit schema."""
    return qualify(spec.audit_schema, TRANSACTION_FUNCTION_NAME)


def transaction_marker(spec: VersionedTable) -> str:
    """The marker the shared transaction function of ``spec``'s layout carries."""
    return shared_marker(_transaction_body(spec))


def transaction_ddl(spec: VersionedTable) -> list[str]:
    """DDL creating (or replacing) the shared transaction function of
    ``spec``'s layout. Only the capture functions call it (as the owner):
    nobody else may create transaction rows."""
    name = transaction_function_name(spec)
    return [
        f"CREATE OR REPLACE FUNCTION {name}"
        "(OUT tx bigint, OUT issued_at timestamptz)\n"
        f"LANGUAGE plpgsql {function_security(spec, definer=True)} AS $$"
        + _transaction_body(spec).replace("@marker@", transaction_marker(spec))
        + "$$",
        f"REVOKE ALL ON FUNCTION {name}() FROM PUBLIC",
    ]


def _find_transaction(spec: VersionedTable) -> str:
    """PL/pgSQL setting ``tx`` and ``ts`` to this transaction's row, created
    on its first captured write. A probe of the row by its key, not a
    session setting: any session can set a setting, and one that claimed
    the row existed would have its changes versioned under no transaction
    row at all."""
    return f"""tx := pg_current_xact_id()::text::bigint;
        SELECT t.issued_at INTO ts FROM {spec.qualified_transaction_table} t WHERE t.id = tx;
        IF NOT FOUND THEN
            SELECT t.tx, t.issued_at INTO tx, ts FROM {transaction_function_name(spec)}() t;
        END IF;"""


def _cached_transaction(then: str) -> str:
    """PL/pgSQL: when this transaction's row is cached, read ``tx`` (and with
    ``then``, more) from the cache with plain expressions, no query per row."""
    return f"""cached := current_setting('{TX_SETTING}', true);
    IF cached IS NOT NULL
       AND split_part(cached, '|', 1) = pg_current_xact_id_if_assigned()::text THEN
        {then}"""


def _value(alias: str, spec: VersionedTable, column: str) -> str:
    ref = f"{alias}.{quote(column)}"
    return f"{ref}::text" if column in spec.text_compared else ref


def _row(alias: str, spec: VersionedTable) -> str:
    return "ROW(" + ", ".join(_value(alias, spec, c) for c in spec.column_names) + ")"


def _merge_same_transaction(spec: VersionedTable) -> str:
    """``ON CONFLICT`` clause of a version insert: a row changed again in the
    same transaction keeps one version; an insert followed by updates stays
    an insert (Continuum's rule)."""
    keys = ", ".join(quote(k) for k in spec.key)
    updates = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in spec.value_columns]
    updates.append(
        "operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1"
        " THEN 0 ELSE EXCLUDED.operation_type END"
    )
    return f"ON CONFLICT ({keys}, transaction_id) DO UPDATE SET {', '.join(updates)}"


def _record(spec: VersionedTable, alias: str, operation: int) -> str:
    """Write the version of the row ``alias`` and close the one it supersedes."""
    version = spec.qualified_version_table
    cols = ", ".join(quote(c) for c in spec.column_names)
    values = ", ".join(f"{alias}.{quote(c)}" for c in spec.column_names)
    match = " AND ".join(f"{quote(k)} = {alias}.{quote(k)}" for k in spec.key)
    # One statement, not two: the close and the insert touch disjoint rows
    # (other transactions' versions, this transaction's), and each statement
    # a trigger runs pays an executor start-up per row.
    return f"""
        WITH closed AS (
            UPDATE {version} SET end_transaction_id = tx
             WHERE {match} AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO {version} AS v ({cols}, transaction_id, end_transaction_id, operation_type)
        VALUES ({values}, tx, NULL, {operation})
        {_merge_same_transaction(spec)};"""


def _stamp_parents(spec: VersionedTable, alias: str) -> str:
    return "".join(
        f"""
        UPDATE {qualify(spec.table_schema, p.parent_table)} SET {quote(p.stamp_column)} = ts
         WHERE {quote(p.parent_key)} = {alias}.{quote(p.column)}
           AND ({quote(p.stamp_column)} IS NULL OR {quote(p.stamp_column)} < ts);"""
        for p in spec.parents
    )


# The transition tables of a row trigger, by event (PostgreSQL allows them on
# AFTER row triggers of a single event).
NEW_ROWS, OLD_ROWS = "audittrail_new_rows", "audittrail_old_rows"
TRANSITION_TABLES = {
    "INSERT": f"REFERENCING NEW TABLE AS {NEW_ROWS}",
    "UPDATE": f"REFERENCING OLD TABLE AS {OLD_ROWS} NEW TABLE AS {NEW_ROWS}",
    "DELETE": f"REFERENCING OLD TABLE AS {OLD_ROWS}",
}
# Where the first row's call leaves its note, per event: an INSERT ... ON
# CONFLICT DO UPDATE fires insert and update calls interleaved.
PENDING_SETTING = "audittrail.pending_"


def _record_all(spec: VersionedTable, rows: str, operation: int) -> str:
    """Write the versions of every row the query ``rows`` returns and close the
    ones they supersede: :func:`_record`, set-based."""
    version = spec.qualified_version_table
    cols = ", ".join(quote(c) for c in spec.column_names)
    values = ", ".join(f"r.{quote(c)}" for c in spec.column_names)
    match = " AND ".join(f"v.{quote(k)} = r.{quote(k)}" for k in spec.key)
    parents = "".join(
        f"""
            UPDATE {qualify(spec.table_schema, p.parent_table)} SET {quote(p.stamp_column)} = ts
             WHERE {quote(p.parent_key)} IN (SELECT r.{quote(p.column)} FROM ({rows}) r)
               AND ({quote(p.stamp_column)} IS NULL OR {quote(p.stamp_column)} < ts);"""
        for p in spec.parents
    )
    return f"""
            WITH r AS ({rows}),
            closed AS (
                UPDATE {version} v SET end_transaction_id = tx FROM r
                 WHERE {match} AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
            INSERT INTO {version} AS v
                ({cols}, transaction_id, end_transaction_id, operation_type)
            SELECT {values}, tx, NULL, {operation} FROM r
            {_merge_same_transaction(spec)};{parents}"""


def _statement_rows(spec: VersionedTable) -> str:
    """PL/pgSQL run first in every call: the rest of a multi-row statement
    after its first row's call versioned all of it (see the module
    docstring). Sets ``pending`` (the setting's name) and ``mode``."""
    keys_new = ", ".join(f"n.{quote(k)}" for k in spec.key)
    keys_old = ", ".join(f"o.{quote(k)}" for k in spec.key)
    changed = (
        f"SELECT n.* FROM {NEW_ROWS} n JOIN {OLD_ROWS} o"
        f" ON ({keys_old}) = ({keys_new})"
        f" WHERE {_row('o', spec)} IS DISTINCT FROM {_row('n', spec)}"
    )
    return f"""pending := '{PENDING_SETTING}' || lower(TG_OP);
    note := current_setting(pending, true);
    IF starts_with(note, TG_RELID || ':' || pg_trigger_depth() || ':') THEN
        left_over := split_part(note, ':', 3)::bigint;
        IF left_over > 0 THEN
            PERFORM set_config(pending, TG_RELID || ':' || pg_trigger_depth() || ':'
                || (left_over - 1) || ':' || split_part(note, ':', 4), true);
            IF split_part(note, ':', 4) = 'set' THEN
                RETURN NULL;
            END IF;
        END IF;
    END IF;
    IF left_over IS NULL OR left_over = 0 THEN
        IF TG_OP = 'DELETE' THEN
            SELECT count(*) INTO statement_rows FROM {OLD_ROWS};
        ELSE
            SELECT count(*) INTO statement_rows FROM {NEW_ROWS};
        END IF;
        IF statement_rows > 1 THEN
            mode := 'set';
            -- (nested: a query naming a transition table the event lacks fails to plan)
            IF TG_OP = 'UPDATE' THEN
                IF EXISTS (
                    SELECT 1 FROM {OLD_ROWS} o
                     WHERE NOT EXISTS (SELECT 1 FROM {NEW_ROWS} n WHERE ({keys_new}) = ({keys_old}))
                ) THEN
                    mode := 'row';  -- a key changed: old and new rows pair only row by row
                END IF;
            END IF;
            PERFORM set_config(pending, TG_RELID || ':' || pg_trigger_depth() || ':'
                || (statement_rows - 1) || ':' || mode, true);
        END IF;
    END IF;
    IF mode = 'set' THEN
        IF TG_OP = 'UPDATE' THEN
            IF NOT EXISTS ({changed}) THEN
                RETURN NULL;  -- no row changed: no version, no transaction row
            END IF;
        END IF;
        {_find_transaction(spec)}
        IF TG_OP = 'INSERT' THEN{_record_all(spec, f"SELECT * FROM {NEW_ROWS}", 0)}
        ELSIF TG_OP = 'DELETE' THEN{_record_all(spec, f"SELECT * FROM {OLD_ROWS}", 2)}
        ELSE{_record_all(spec, changed, 1)}
        END IF;
        RETURN NULL;
    END IF;"""


def _capture_function(spec: VersionedTable, name: str) -> str:
    # enable_seqscan is off for the function only: a generic plan cached
    # while a version table looked empty would otherwise scan the whole table
    # per row for as long as the session lives (no ANALYZE, no replanning);
    # with it off, the close is always a probe of the (key,
    # end_transaction_id) index. JIT is off because a disabled path's cost
    # would otherwise make these tiny statements look worth compiling.
    key_changed = (
        "ROW(" + ", ".join(f"OLD.{quote(k)}" for k in spec.key) + ") IS DISTINCT FROM "
        "ROW(" + ", ".join(f"NEW.{quote(k)}" for k in spec.key) + ")"
    )
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
{function_security(spec, definer=True)} SET enable_seqscan = off SET jit = off AS $$
DECLARE
    tx bigint;
    ts timestamptz;
    pending text;
    note text;
    left_over bigint;
    statement_rows bigint;
    mode text;
BEGIN
    -- {marker(spec)}
    {_statement_rows(spec)}
    IF TG_OP = 'UPDATE' AND {_row("OLD", spec)} IS NOT DISTINCT FROM {_row("NEW", spec)} THEN
        RETURN NULL;
    END IF;
    {_find_transaction(spec)}
    IF TG_OP = 'INSERT' THEN
        {_record(spec, "NEW", 0)}{_stamp_parents(spec, "NEW")}
    ELSIF TG_OP = 'DELETE' THEN
        {_record(spec, "OLD", 2)}{_stamp_parents(spec, "OLD")}
    ELSIF {key_changed} THEN
        -- A new key is a new identity: the old one is deleted, the new inserted.
        {_record(spec, "OLD", 2)}{_stamp_parents(spec, "OLD")}
        {_record(spec, "NEW", 0)}{_stamp_parents(spec, "NEW")}
    ELSE
        {_record(spec, "NEW", 1)}{_stamp_parents(spec, "NEW")}
    END IF;
    RETURN NULL;
END
$$"""


def _truncate_function(spec: VersionedTable, name: str) -> str:
    # TRUNCATE fires no row triggers; this statement trigger records a delete
    # of every row, set-based, before any table of the command is emptied.
    # The command holds ACCESS EXCLUSIVE locks, so no other writer races it.
    version = spec.qualified_version_table
    table = spec.qualified_table
    cols = ", ".join(quote(c) for c in spec.column_names)
    values = ", ".join(f"r.{quote(c)}" for c in spec.column_names)
    match = " AND ".join(f"v.{quote(k)} = r.{quote(k)}" for k in spec.key)
    parents = "".join(
        f"""
    UPDATE {qualify(spec.table_schema, p.parent_table)} SET {quote(p.stamp_column)} = ts
     WHERE {quote(p.parent_key)} IN (SELECT {quote(p.column)} FROM {table})
       AND ({quote(p.stamp_column)} IS NULL OR {quote(p.stamp_column)} < ts);"""
        for p in spec.parents
    )
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
{function_security(spec, definer=True)} SET jit = off AS $$
DECLARE
    tx bigint;
    ts timestamptz;
BEGIN
    -- {marker(spec)}
    IF NOT EXISTS (SELECT 1 FROM {table}) THEN
        RETURN NULL;
    END IF;
    SELECT t.tx, t.issued_at INTO tx, ts FROM {transaction_function_name(spec)}() t;
    WITH closed AS (
        UPDATE {version} v SET end_transaction_id = tx FROM {table} r
         WHERE {match} AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
    INSERT INTO {version} AS v ({cols}, transaction_id, end_transaction_id, operation_type)
    SELECT {values}, tx, NULL, 2 FROM {table} r
    {_merge_same_transaction(spec)};{parents}
    RETURN NULL;
END
$$"""


def _stamp_function(spec: VersionedTable, name: str, stamp: str) -> str:
    # The transaction's issued_at once its row exists. Before that, the AFTER
    # trigger of this same statement is about to create the row with
    # statement_timestamp(), so the values agree; creating the row here would
    # leave an orphan for an INSERT that ON CONFLICT turns into nothing.
    # A stamp never moves backwards: a transaction that began writing before
    # another one but commits after it (it waited for the row lock, and the
    # trigger sees the newer row as OLD) keeps the later time, which is the
    # value derived from history (max issued_at).
    # The no-op test lives here rather than in a trigger WHEN clause, which
    # PostgreSQL parses and compiles again for every statement.
    # It runs with the writer's rights and reads a session setting: it touches
    # no table, and a writer may set its row's stamp by hand anyway (a stamp
    # is derived data that the daemon re-derives from history).
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cached text;
    issued_at timestamptz;
BEGIN
    -- {marker(spec)}
    IF TG_OP = 'UPDATE' AND {_row("OLD", spec)} IS NOT DISTINCT FROM {_row("NEW", spec)} THEN
        RETURN NEW;
    END IF;
    {_cached_transaction("issued_at := split_part(cached, '|', 2)::timestamptz;")}
    ELSE
        issued_at := statement_timestamp();
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.{stamp} := greatest(OLD.{stamp}, issued_at);
    ELSE
        NEW.{stamp} := issued_at;
    END IF;
    RETURN NEW;
END
$$"""


def function_name(spec: VersionedTable, role: triggers.Role) -> str:
    """``spec``'s capture function of ``role``, qualified by its audit schema."""
    return qualify(spec.audit_schema, triggers.function_name(spec.table, role))


def _function_ddl(spec: VersionedTable, role: triggers.Role) -> str:
    name = function_name(spec, role)
    if role == "capture":
        return _capture_function(spec, name)
    if role == "truncate":
        return _truncate_function(spec, name)
    assert role == "stamp" and spec.stamp_column is not None
    return _stamp_function(spec, name, quote(spec.stamp_column))


def install_ddl(spec: VersionedTable) -> list[str]:
    """DDL creating (or replacing) the capture functions and triggers of a
    table (the shared functions they call: :func:`transaction_ddl`)."""
    table = spec.qualified_table
    wanted = [t for t in triggers.POSTGRESQL if t.applies_to(spec)]
    roles = list(dict.fromkeys(t.role for t in wanted))
    statements = [_function_ddl(spec, role) for role in roles]
    statements += [
        f"REVOKE ALL ON FUNCTION {function_name(spec, role)}() FROM PUBLIC"
        for role in roles
        if role != "stamp"
    ]
    statements += _drop_trigger_ddl(spec)
    statements += [
        f"CREATE TRIGGER {t.name} {t.timing} {t.event} ON {table}"
        f"{' ' + TRANSITION_TABLES[t.event] if t.role == 'capture' else ''}"
        f" FOR EACH {'ROW' if t.per_row else 'STATEMENT'}"
        f" EXECUTE FUNCTION {function_name(spec, t.role)}()"
        for t in wanted
    ]
    return statements


def _drop_trigger_ddl(spec: VersionedTable) -> list[str]:
    """DDL removing every capture trigger a table may carry."""
    return [
        f"DROP TRIGGER IF EXISTS {t.name} ON {spec.qualified_table}" for t in triggers.POSTGRESQL
    ]


def drop_ddl(spec: VersionedTable) -> list[str]:
    """DDL removing a table's capture triggers and functions."""
    roles = dict.fromkeys(t.role for t in triggers.POSTGRESQL)
    return [
        *_drop_trigger_ddl(spec),
        *(f"DROP FUNCTION IF EXISTS {function_name(spec, role)}()" for role in roles),
    ]
