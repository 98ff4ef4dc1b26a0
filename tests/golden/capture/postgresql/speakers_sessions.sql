CREATE OR REPLACE FUNCTION "audittrail"."audittrail_speakers_sessions_capture"() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, "audittrail", pg_temp SET enable_seqscan = off SET jit = off AS $$
DECLARE
    tx bigint;
    ts timestamptz;
    pending text;
    note text;
    left_over bigint;
    statement_rows bigint;
    mode text;
BEGIN
    -- audittrail-capture speakers_sessions 2e2dae2339cfe5c3
    pending := 'audittrail.pending_' || lower(TG_OP);
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
            SELECT count(*) INTO statement_rows FROM audittrail_old_rows;
        ELSE
            SELECT count(*) INTO statement_rows FROM audittrail_new_rows;
        END IF;
        IF statement_rows > 1 THEN
            mode := 'set';
            -- (nested: a query naming a transition table the event lacks fails to plan)
            IF TG_OP = 'UPDATE' THEN
                IF EXISTS (
                    SELECT 1 FROM audittrail_old_rows o
                     WHERE NOT EXISTS (SELECT 1 FROM audittrail_new_rows n WHERE (n."speaker_id", n."session_id") = (o."speaker_id", o."session_id"))
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
            IF NOT EXISTS (SELECT n.* FROM audittrail_new_rows n JOIN audittrail_old_rows o ON (o."speaker_id", o."session_id") = (n."speaker_id", n."session_id") WHERE ROW(o."speaker_id", o."session_id") IS DISTINCT FROM ROW(n."speaker_id", n."session_id")) THEN
                RETURN NULL;  -- no row changed: no version, no transaction row
            END IF;
        END IF;
        tx := pg_current_xact_id()::text::bigint;
        SELECT t.issued_at INTO ts FROM "audittrail"."audittrail_transaction" t WHERE t.id = tx;
        IF NOT FOUND THEN
            SELECT t.tx, t.issued_at INTO tx, ts FROM "audittrail"."audittrail_tx"() t;
        END IF;
        IF TG_OP = 'INSERT' THEN
            WITH r AS (SELECT * FROM audittrail_new_rows),
            closed AS (
                UPDATE "audittrail"."audittrail_speakers_sessions_version" v SET end_transaction_id = tx FROM r
                 WHERE v."speaker_id" = r."speaker_id" AND v."session_id" = r."session_id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
            INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v
                ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
            SELECT r."speaker_id", r."session_id", tx, NULL, 0 FROM r
            ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
            UPDATE "public"."sessions" SET "last_modified_at" = ts
             WHERE "id" IN (SELECT r."session_id" FROM (SELECT * FROM audittrail_new_rows) r)
               AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
        ELSIF TG_OP = 'DELETE' THEN
            WITH r AS (SELECT * FROM audittrail_old_rows),
            closed AS (
                UPDATE "audittrail"."audittrail_speakers_sessions_version" v SET end_transaction_id = tx FROM r
                 WHERE v."speaker_id" = r."speaker_id" AND v."session_id" = r."session_id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
            INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v
                ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
            SELECT r."speaker_id", r."session_id", tx, NULL, 2 FROM r
            ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
            UPDATE "public"."sessions" SET "last_modified_at" = ts
             WHERE "id" IN (SELECT r."session_id" FROM (SELECT * FROM audittrail_old_rows) r)
               AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
        ELSE
            WITH r AS (SELECT n.* FROM audittrail_new_rows n JOIN audittrail_old_rows o ON (o."speaker_id", o."session_id") = (n."speaker_id", n."session_id") WHERE ROW(o."speaker_id", o."session_id") IS DISTINCT FROM ROW(n."speaker_id", n."session_id")),
            closed AS (
                UPDATE "audittrail"."audittrail_speakers_sessions_version" v SET end_transaction_id = tx FROM r
                 WHERE v."speaker_id" = r."speaker_id" AND v."session_id" = r."session_id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
            INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v
                ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
            SELECT r."speaker_id", r."session_id", tx, NULL, 1 FROM r
            ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
            UPDATE "public"."sessions" SET "last_modified_at" = ts
             WHERE "id" IN (SELECT r."session_id" FROM (SELECT n.* FROM audittrail_new_rows n JOIN audittrail_old_rows o ON (o."speaker_id", o."session_id") = (n."speaker_id", n."session_id") WHERE ROW(o."speaker_id", o."session_id") IS DISTINCT FROM ROW(n."speaker_id", n."session_id")) r)
               AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND ROW(OLD."speaker_id", OLD."session_id") IS NOT DISTINCT FROM ROW(NEW."speaker_id", NEW."session_id") THEN
        RETURN NULL;
    END IF;
    tx := pg_current_xact_id()::text::bigint;
        SELECT t.issued_at INTO ts FROM "audittrail"."audittrail_transaction" t WHERE t.id = tx;
        IF NOT FOUND THEN
            SELECT t.tx, t.issued_at INTO tx, ts FROM "audittrail"."audittrail_tx"() t;
        END IF;
    IF TG_OP = 'INSERT' THEN
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_speakers_sessions_version" SET end_transaction_id = tx
             WHERE "speaker_id" = NEW."speaker_id" AND "session_id" = NEW."session_id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."speaker_id", NEW."session_id", tx, NULL, 0)
        ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        UPDATE "public"."sessions" SET "last_modified_at" = ts
         WHERE "id" = NEW."session_id"
           AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
    ELSIF TG_OP = 'DELETE' THEN
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_speakers_sessions_version" SET end_transaction_id = tx
             WHERE "speaker_id" = OLD."speaker_id" AND "session_id" = OLD."session_id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."speaker_id", OLD."session_id", tx, NULL, 2)
        ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        UPDATE "public"."sessions" SET "last_modified_at" = ts
         WHERE "id" = OLD."session_id"
           AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
    ELSIF ROW(OLD."speaker_id", OLD."session_id") IS DISTINCT FROM ROW(NEW."speaker_id", NEW."session_id") THEN
        -- A new key is a new identity: the old one is deleted, the new inserted.
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_speakers_sessions_version" SET end_transaction_id = tx
             WHERE "speaker_id" = OLD."speaker_id" AND "session_id" = OLD."session_id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."speaker_id", OLD."session_id", tx, NULL, 2)
        ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        UPDATE "public"."sessions" SET "last_modified_at" = ts
         WHERE "id" = OLD."session_id"
           AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_speakers_sessions_version" SET end_transaction_id = tx
             WHERE "speaker_id" = NEW."speaker_id" AND "session_id" = NEW."session_id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."speaker_id", NEW."session_id", tx, NULL, 0)
        ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        UPDATE "public"."sessions" SET "last_modified_at" = ts
         WHERE "id" = NEW."session_id"
           AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
    ELSE
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_speakers_sessions_version" SET end_transaction_id = tx
             WHERE "speaker_id" = NEW."speaker_id" AND "session_id" = NEW."session_id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."speaker_id", NEW."session_id", tx, NULL, 1)
        ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        UPDATE "public"."sessions" SET "last_modified_at" = ts
         WHERE "id" = NEW."session_id"
           AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
    END IF;
    RETURN NULL;
END
$$
;
CREATE OR REPLACE FUNCTION "audittrail"."audittrail_speakers_sessions_truncate"() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, "audittrail", pg_temp SET jit = off AS $$
DECLARE
    tx bigint;
    ts timestamptz;
BEGIN
    -- audittrail-capture speakers_sessions 2e2dae2339cfe5c3
    IF NOT EXISTS (SELECT 1 FROM "public"."speakers_sessions") THEN
        RETURN NULL;
    END IF;
    SELECT t.tx, t.issued_at INTO tx, ts FROM "audittrail"."audittrail_tx"() t;
    WITH closed AS (
        UPDATE "audittrail"."audittrail_speakers_sessions_version" v SET end_transaction_id = tx FROM "public"."speakers_sessions" r
         WHERE v."speaker_id" = r."speaker_id" AND v."session_id" = r."session_id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
    INSERT INTO "audittrail"."audittrail_speakers_sessions_version" AS v ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type)
    SELECT r."speaker_id", r."session_id", tx, NULL, 2 FROM "public"."speakers_sessions" r
    ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    UPDATE "public"."sessions" SET "last_modified_at" = ts
     WHERE "id" IN (SELECT "session_id" FROM "public"."speakers_sessions")
       AND ("last_modified_at" IS NULL OR "last_modified_at" < ts);
    RETURN NULL;
END
$$
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_speakers_sessions_capture"() FROM PUBLIC
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_speakers_sessions_truncate"() FROM PUBLIC
;
DROP TRIGGER IF EXISTS audittrail_capture_insert ON "public"."speakers_sessions"
;
DROP TRIGGER IF EXISTS audittrail_capture_update ON "public"."speakers_sessions"
;
DROP TRIGGER IF EXISTS audittrail_capture_delete ON "public"."speakers_sessions"
;
DROP TRIGGER IF EXISTS audittrail_capture_truncate ON "public"."speakers_sessions"
;
DROP TRIGGER IF EXISTS audittrail_stamp_insert ON "public"."speakers_sessions"
;
DROP TRIGGER IF EXISTS audittrail_stamp_update ON "public"."speakers_sessions"
;
CREATE TRIGGER audittrail_capture_insert AFTER INSERT ON "public"."speakers_sessions" REFERENCING NEW TABLE AS audittrail_new_rows FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_speakers_sessions_capture"()
;
CREATE TRIGGER audittrail_capture_update AFTER UPDATE ON "public"."speakers_sessions" REFERENCING OLD TABLE AS audittrail_old_rows NEW TABLE AS audittrail_new_rows FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_speakers_sessions_capture"()
;
CREATE TRIGGER audittrail_capture_delete AFTER DELETE ON "public"."speakers_sessions" REFERENCING OLD TABLE AS audittrail_old_rows FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_speakers_sessions_capture"()
;
CREATE TRIGGER audittrail_capture_truncate BEFORE TRUNCATE ON "public"."speakers_sessions" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_speakers_sessions_truncate"()
;
DROP TRIGGER IF EXISTS audittrail_append_only_update ON "audittrail"."audittrail_speakers_sessions_version"
;
DROP TRIGGER IF EXISTS audittrail_append_only_delete ON "audittrail"."audittrail_speakers_sessions_version"
;
DROP TRIGGER IF EXISTS audittrail_append_only_truncate ON "audittrail"."audittrail_speakers_sessions_version"
;
CREATE TRIGGER audittrail_append_only_update BEFORE UPDATE ON "audittrail"."audittrail_speakers_sessions_version" FOR EACH ROW WHEN (NOT coalesce((OLD.transaction_id = pg_current_xact_id()::text::bigint AND NEW.transaction_id = OLD.transaction_id) OR (OLD.end_transaction_id IS NULL AND NEW.end_transaction_id = pg_current_xact_id()::text::bigint AND ROW(OLD."speaker_id", OLD."session_id", OLD."transaction_id", OLD."operation_type") IS NOT DISTINCT FROM ROW(NEW."speaker_id", NEW."session_id", NEW."transaction_id", NEW."operation_type")), false)) EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
;
CREATE TRIGGER audittrail_append_only_delete BEFORE DELETE ON "audittrail"."audittrail_speakers_sessions_version" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
;
CREATE TRIGGER audittrail_append_only_truncate BEFORE TRUNCATE ON "audittrail"."audittrail_speakers_sessions_version" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
