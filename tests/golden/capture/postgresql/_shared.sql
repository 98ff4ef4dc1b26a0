CREATE OR REPLACE FUNCTION "audittrail"."audittrail_context_mac"(tx bigint, actor text, origin text, reason text, remote_addr text)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, "audittrail", pg_temp AS $$
DECLARE
    signing_key bytea;
BEGIN
    -- audittrail-capture shared 256cd33e98d6b7a4
    -- Below the revision that made the key (a downgrade keeps this build's
    -- capture): no key, so no context is trusted, and writes go on.
    IF to_regclass('"audittrail"."audittrail_context_key"') IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT k.key INTO signing_key FROM "audittrail"."audittrail_context_key" k WHERE k.slot = 1;
    IF signing_key IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN encode(sha256(signing_key || sha256(signing_key || convert_to(
        json_build_array(tx, actor, origin, reason, remote_addr)::text, 'UTF8'))), 'hex');
END
$$
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_context_mac"(bigint, text, text, text, text) FROM PUBLIC
;
CREATE OR REPLACE FUNCTION "audittrail"."audittrail_set_context"(actor text, origin text, reason text, remote_addr text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, "audittrail", pg_temp AS $$
DECLARE
    tx bigint := pg_current_xact_id()::text::bigint;
BEGIN
    -- audittrail-capture shared b804161688dfe238
    IF origin IS NULL OR origin = '' THEN
        RAISE EXCEPTION 'audittrail: a published context needs an origin';
    END IF;
    PERFORM set_config('audittrail.actor', coalesce(actor, ''), true),
        set_config('audittrail.origin', origin, true),
        set_config('audittrail.reason', coalesce(reason, ''), true),
        set_config('audittrail.remote_addr', coalesce(remote_addr, ''), true),
        set_config('audittrail.context_mac', "audittrail"."audittrail_context_mac"(tx,
            nullif(actor, ''), origin, nullif(reason, ''), nullif(remote_addr, '')), true);
END
$$
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_set_context"(text, text, text, text) FROM PUBLIC
;
CREATE OR REPLACE FUNCTION "audittrail"."audittrail_tx"(OUT tx bigint, OUT issued_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, "audittrail", pg_temp AS $$
DECLARE
    claimed boolean := false;
BEGIN
    -- audittrail-capture shared c26d382d45bd0870
    tx := pg_current_xact_id()::text::bigint;
    IF nullif(current_setting('audittrail.origin', true), '') IS NOT NULL THEN
        claimed := coalesce(current_setting('audittrail.context_mac', true)
            = "audittrail"."audittrail_context_mac"(tx, nullif(current_setting('audittrail.actor', true), ''), nullif(current_setting('audittrail.origin', true), ''), nullif(current_setting('audittrail.reason', true), ''), nullif(current_setting('audittrail.remote_addr', true), '')), false);
    END IF;
    INSERT INTO "audittrail"."audittrail_transaction" AS t
        (id, issued_at, actor, origin, reason, remote_addr, application)
    VALUES (
        tx,
        statement_timestamp(),
        CASE WHEN claimed THEN nullif(current_setting('audittrail.actor', true), '') ELSE session_user::text END,
        CASE WHEN claimed THEN nullif(current_setting('audittrail.origin', true), '') ELSE 'sql' END,
        CASE WHEN claimed THEN nullif(current_setting('audittrail.reason', true), '') END,
        CASE WHEN claimed THEN nullif(current_setting('audittrail.remote_addr', true), '')
             ELSE host(inet_client_addr()) END,
        nullif(current_setting('application_name'), '')
    )
    ON CONFLICT (id) DO NOTHING
    RETURNING t.issued_at INTO issued_at;
    IF issued_at IS NULL THEN
        SELECT t.issued_at INTO issued_at FROM "audittrail"."audittrail_transaction" t WHERE t.id = tx;
    ELSE
        PERFORM pg_notify('audittrail_changes', '');
    END IF;
    PERFORM set_config(
        'audittrail.tx',
        tx::text || '|' || to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
            || '+00',
        true);
END
$$
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_tx"() FROM PUBLIC
;
CREATE OR REPLACE FUNCTION "audittrail"."audittrail_refuse_history_change"() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, "audittrail", pg_temp AS $$
BEGIN
    -- audittrail-capture shared 01cc7fe406783f46
    IF TG_OP IN ('DELETE', 'UPDATE')
       AND current_setting('audittrail.retention', true) = pg_current_xact_id()::text
       AND pg_has_role(current_user,
           (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;  -- the row's update goes ahead; a statement trigger ignores it
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'history is append-only: ' || TG_OP || ' of ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege',
              HINT = 'history rows are written by capture only and removed by retention only';
END
$$
;
DROP TRIGGER IF EXISTS audittrail_append_only_update ON "audittrail"."audittrail_transaction"
;
DROP TRIGGER IF EXISTS audittrail_append_only_delete ON "audittrail"."audittrail_transaction"
;
DROP TRIGGER IF EXISTS audittrail_append_only_truncate ON "audittrail"."audittrail_transaction"
;
CREATE TRIGGER audittrail_append_only_update BEFORE UPDATE ON "audittrail"."audittrail_transaction" FOR EACH ROW WHEN (OLD.id <> pg_current_xact_id()::text::bigint OR NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
;
CREATE TRIGGER audittrail_append_only_delete BEFORE DELETE ON "audittrail"."audittrail_transaction" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
;
CREATE TRIGGER audittrail_append_only_truncate BEFORE TRUNCATE ON "audittrail"."audittrail_transaction" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
;
CREATE OR REPLACE FUNCTION "audittrail"."audittrail_retention_delete"(history_table text, keys jsonb) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, "audittrail", pg_temp AS $$
DECLARE
    history regclass := to_regclass(quote_ident('audittrail') || '.' || quote_ident(history_table));
    matched text;
    removed bigint;
    before text := current_setting('audittrail.retention', true);
BEGIN
    -- audittrail-capture shared 5afb284ba85fd538
    IF history IS NULL OR NOT EXISTS (
        SELECT 1 FROM pg_trigger WHERE tgrelid = history AND tgname = 'audittrail_append_only_delete'
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
    PERFORM set_config('audittrail.retention', pg_current_xact_id()::text, true);
    EXECUTE 'DELETE FROM ' || history::text || ' AS h USING jsonb_populate_recordset(NULL::'
        || history::text || ', $1) AS k WHERE ' || matched USING keys;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('audittrail.retention', coalesce(before, ''), true);
    RETURN removed;
END
$$
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_retention_delete"(text, jsonb) FROM PUBLIC
