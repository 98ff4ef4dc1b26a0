"""PL/pgSQL capture: statement-level triggers with transition tables.

One ``INSERT … SELECT`` per statement, however many rows it touched, keeps
500-row batches cheap. Correct under concurrency because an UPDATE or DELETE
holds the row locks of the rows it changed until commit: a second writer of
the same row blocks until the first commits, and its trigger statement (a
fresh READ COMMITTED snapshot) then sees and closes the first writer's
version, so every row keeps exactly one current version.
"""

from __future__ import annotations

from auditd.capture.spec import CaptureSpec, quote

# Finds or creates the transaction row of the current database transaction.
# The id is the 64-bit xid, so no session state is needed; the GUC only caches
# it for later rows and is transaction-local (reverted on rollback, also of a
# savepoint). Attribution comes from audittrail.* settings published by
# auditd.versioning, or else from the database role and application_name.
TRANSACTION_FUNCTION = """
CREATE OR REPLACE FUNCTION audittrail_tx(OUT tx bigint, OUT issued_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    cached text := current_setting('audittrail.tx', true);
BEGIN
    -- audittrail-capture shared 1
    tx := pg_current_xact_id()::text::bigint;
    IF cached IS NOT NULL AND split_part(cached, '|', 1) = tx::text THEN
        issued_at := split_part(cached, '|', 2)::timestamptz;
        RETURN;
    END IF;
    INSERT INTO "transaction" (id, issued_at, actor, origin, reason, remote_addr, application)
    VALUES (
        tx,
        statement_timestamp(),
        coalesce(nullif(current_setting('audittrail.actor', true), ''), current_user),
        coalesce(nullif(current_setting('audittrail.origin', true), ''), 'sql'),
        nullif(current_setting('audittrail.reason', true), ''),
        coalesce(nullif(current_setting('audittrail.remote_addr', true), ''),
                 host(inet_client_addr())),
        nullif(current_setting('application_name'), '')
    )
    ON CONFLICT (id) DO NOTHING;
    SELECT t.issued_at INTO issued_at FROM "transaction" t WHERE t.id = tx;
    PERFORM set_config(
        'audittrail.tx',
        tx::text || '|' || to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
            || '+00',
        true);
END
$$
"""


def _value(alias: str, spec: CaptureSpec, column: str) -> str:
    ref = f"{alias}.{quote(column)}"
    return f"{ref}::text" if column in spec.text_compare else ref


def _row(alias: str, spec: CaptureSpec) -> str:
    return "ROW(" + ", ".join(_value(alias, spec, c) for c in spec.columns) + ")"


def _key_match(left: str, right: str, spec: CaptureSpec) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in spec.key)


def _select_cols(alias: str, spec: CaptureSpec) -> str:
    return ", ".join(f"{alias}.{quote(c)}" for c in spec.columns)


def _changed_sql(spec: CaptureSpec, op: str) -> str:
    if op == "INSERT":
        return f"SELECT {_select_cols('n', spec)}, 0 AS operation_type FROM audittrail_new n"
    if op == "DELETE":
        return f"SELECT {_select_cols('o', spec)}, 2 AS operation_type FROM audittrail_old o"
    # An UPDATE that changes a key is recorded as the old identity's delete
    # and the new identity's insert, like the association's own semantics.
    return f"""
        SELECT {_select_cols("n", spec)}, 1 AS operation_type
          FROM audittrail_new n JOIN audittrail_old o ON {_key_match("o", "n", spec)}
         WHERE {_row("o", spec)} IS DISTINCT FROM {_row("n", spec)}
        UNION ALL
        SELECT {_select_cols("o", spec)}, 2 FROM audittrail_old o
         WHERE NOT EXISTS (SELECT 1 FROM audittrail_new n WHERE {_key_match("o", "n", spec)})
        UNION ALL
        SELECT {_select_cols("n", spec)}, 0 FROM audittrail_new n
         WHERE NOT EXISTS (SELECT 1 FROM audittrail_old o WHERE {_key_match("o", "n", spec)})"""


def _record_sql(spec: CaptureSpec, op: str) -> str:
    version = quote(spec.version_table)
    cols = ", ".join(quote(c) for c in spec.columns)
    keys = ", ".join(quote(k) for k in spec.key)
    updates = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in spec.value_columns]
    # Insert then update in one transaction stays an insert (Continuum's rule).
    updates.append(
        "operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1"
        " THEN 0 ELSE EXCLUDED.operation_type END"
    )
    ctes = [
        f"changed AS ({_changed_sql(spec, op)})",
        f"""closed AS (
            UPDATE {version} AS v SET end_transaction_id = tx FROM changed c
             WHERE {_key_match("v", "c", spec)}
               AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)""",
    ]
    for i, parent in enumerate(spec.parents):
        ctes.append(
            f"""parent_{i} AS (
            UPDATE {quote(parent.parent_table)} AS p SET {quote(parent.stamp_column)} = ts
              FROM (SELECT DISTINCT {quote(parent.column)} AS k FROM changed) c
             WHERE p.{quote(parent.parent_key)} = c.k
               AND p.{quote(parent.stamp_column)} IS DISTINCT FROM ts)"""
        )
    return f"""
        WITH {", ".join(ctes)}
        INSERT INTO {version} AS v ({cols}, transaction_id, end_transaction_id, operation_type)
        SELECT {cols}, tx, NULL, operation_type FROM changed
        ON CONFLICT ({keys}, transaction_id) DO UPDATE SET {", ".join(updates)};"""


def _names(spec: CaptureSpec) -> dict[str, str]:
    base = f"audittrail_{spec.table}"
    return {"capture": f"{base}_capture", "stamp": f"{base}_stamp"}


def install_ddl(spec: CaptureSpec) -> list[str]:
    """DDL creating (or replacing) the capture functions and triggers of a table."""
    names = _names(spec)
    table = quote(spec.table)
    marker = spec.marker()
    any_change = f"IF NOT EXISTS ({_changed_sql(spec, 'UPDATE')}) THEN RETURN NULL; END IF;"
    body = f"""
CREATE OR REPLACE FUNCTION {names["capture"]}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx bigint;
    ts timestamptz;
BEGIN
    -- {marker}
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM audittrail_new) THEN RETURN NULL; END IF;
        SELECT t.tx, t.issued_at INTO tx, ts FROM audittrail_tx() t;
        {_record_sql(spec, "INSERT")}
    ELSIF TG_OP = 'UPDATE' THEN
        {any_change}
        SELECT t.tx, t.issued_at INTO tx, ts FROM audittrail_tx() t;
        {_record_sql(spec, "UPDATE")}
    ELSE
        IF NOT EXISTS (SELECT 1 FROM audittrail_old) THEN RETURN NULL; END IF;
        SELECT t.tx, t.issued_at INTO tx, ts FROM audittrail_tx() t;
        {_record_sql(spec, "DELETE")}
    END IF;
    RETURN NULL;
END
$$"""
    statements = [TRANSACTION_FUNCTION, body, *drop_trigger_ddl(spec)]
    statements += [
        f"CREATE TRIGGER audittrail_capture_insert AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS audittrail_new"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {names['capture']}()",
        f"CREATE TRIGGER audittrail_capture_update AFTER UPDATE ON {table}"
        f" REFERENCING OLD TABLE AS audittrail_old NEW TABLE AS audittrail_new"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {names['capture']}()",
        f"CREATE TRIGGER audittrail_capture_delete AFTER DELETE ON {table}"
        f" REFERENCING OLD TABLE AS audittrail_old"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {names['capture']}()",
    ]
    if spec.stamp_column:
        stamp = quote(spec.stamp_column)
        statements.append(
            f"""
CREATE OR REPLACE FUNCTION {names["stamp"]}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- {marker}
    NEW.{stamp} := (SELECT t.issued_at FROM audittrail_tx() t);
    RETURN NEW;
END
$$"""
        )
        statements += [
            f"CREATE TRIGGER audittrail_stamp_insert BEFORE INSERT ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {names['stamp']}()",
            f"CREATE TRIGGER audittrail_stamp_update BEFORE UPDATE ON {table} FOR EACH ROW"
            f" WHEN ({_row('OLD', spec)} IS DISTINCT FROM {_row('NEW', spec)})"
            f" EXECUTE FUNCTION {names['stamp']}()",
        ]
    return statements


TRIGGER_NAMES = (
    "audittrail_capture_insert",
    "audittrail_capture_update",
    "audittrail_capture_delete",
    "audittrail_stamp_insert",
    "audittrail_stamp_update",
)


def drop_trigger_ddl(spec: CaptureSpec) -> list[str]:
    table = quote(spec.table)
    return [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name in TRIGGER_NAMES]


def drop_ddl(spec: CaptureSpec) -> list[str]:
    """DDL removing a table's capture triggers and functions."""
    names = _names(spec)
    return [
        *drop_trigger_ddl(spec),
        f"DROP FUNCTION IF EXISTS {names['capture']}()",
        f"DROP FUNCTION IF EXISTS {names['stamp']}()",
    ]


def expected_triggers(spec: CaptureSpec) -> dict[str, str]:
    """Trigger name → the function it must call, for `verify`."""
    names = _names(spec)
    expected = {n: names["capture"] for n in TRIGGER_NAMES[:3]}
    if spec.stamp_column:
        expected |= {n: names["stamp"] for n in TRIGGER_NAMES[3:]}
    return expected
