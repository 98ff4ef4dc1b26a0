CREATE OR REPLACE FUNCTION audittrail_speaker_capture() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    cached text;
    tx bigint;
    ts timestamptz;
BEGIN
    -- audittrail-capture speaker 294f4fd01c611546
    IF TG_OP = 'UPDATE' AND ROW(OLD."id", OLD."name", OLD."email", OLD."organisation", OLD."position", OLD."short_biography", OLD."event_id", OLD."user_id", OLD."deleted_at") IS NOT DISTINCT FROM ROW(NEW."id", NEW."name", NEW."email", NEW."organisation", NEW."position", NEW."short_biography", NEW."event_id", NEW."user_id", NEW."deleted_at") THEN
        RETURN NULL;
    END IF;
    cached := current_setting('audittrail.tx', true);
    IF cached IS NOT NULL
       AND split_part(cached, '|', 1) = pg_current_xact_id_if_assigned()::text THEN
        tx := split_part(cached, '|', 1)::bigint;
    ELSE
        SELECT t.tx, t.issued_at INTO tx, ts FROM audittrail_tx() t;
    END IF;
    IF TG_OP = 'INSERT' THEN
        
        WITH closed AS (
            UPDATE "speaker_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "speaker_version" AS v ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."name", NEW."email", NEW."organisation", NEW."position", NEW."short_biography", NEW."event_id", NEW."user_id", NEW."deleted_at", tx, NULL, 0)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "email" = EXCLUDED."email", "organisation" = EXCLUDED."organisation", "position" = EXCLUDED."position", "short_biography" = EXCLUDED."short_biography", "event_id" = EXCLUDED."event_id", "user_id" = EXCLUDED."user_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSIF TG_OP = 'DELETE' THEN
        
        WITH closed AS (
            UPDATE "speaker_version" SET end_transaction_id = tx
             WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "speaker_version" AS v ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."id", OLD."name", OLD."email", OLD."organisation", OLD."position", OLD."short_biography", OLD."event_id", OLD."user_id", OLD."deleted_at", tx, NULL, 2)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "email" = EXCLUDED."email", "organisation" = EXCLUDED."organisation", "position" = EXCLUDED."position", "short_biography" = EXCLUDED."short_biography", "event_id" = EXCLUDED."event_id", "user_id" = EXCLUDED."user_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSIF ROW(OLD."id") IS DISTINCT FROM ROW(NEW."id") THEN
        -- A new key is a new identity: the old one is deleted, the new inserted.
        
        WITH closed AS (
            UPDATE "speaker_version" SET end_transaction_id = tx
             WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "speaker_version" AS v ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."id", OLD."name", OLD."email", OLD."organisation", OLD."position", OLD."short_biography", OLD."event_id", OLD."user_id", OLD."deleted_at", tx, NULL, 2)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "email" = EXCLUDED."email", "organisation" = EXCLUDED."organisation", "position" = EXCLUDED."position", "short_biography" = EXCLUDED."short_biography", "event_id" = EXCLUDED."event_id", "user_id" = EXCLUDED."user_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        
        WITH closed AS (
            UPDATE "speaker_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "speaker_version" AS v ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."name", NEW."email", NEW."organisation", NEW."position", NEW."short_biography", NEW."event_id", NEW."user_id", NEW."deleted_at", tx, NULL, 0)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "email" = EXCLUDED."email", "organisation" = EXCLUDED."organisation", "position" = EXCLUDED."position", "short_biography" = EXCLUDED."short_biography", "event_id" = EXCLUDED."event_id", "user_id" = EXCLUDED."user_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSE
        
        WITH closed AS (
            UPDATE "speaker_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "speaker_version" AS v ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."name", NEW."email", NEW."organisation", NEW."position", NEW."short_biography", NEW."event_id", NEW."user_id", NEW."deleted_at", tx, NULL, 1)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "email" = EXCLUDED."email", "organisation" = EXCLUDED."organisation", "position" = EXCLUDED."position", "short_biography" = EXCLUDED."short_biography", "event_id" = EXCLUDED."event_id", "user_id" = EXCLUDED."user_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    END IF;
    RETURN NULL;
END
$$
;
CREATE OR REPLACE FUNCTION audittrail_speaker_truncate() RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
    tx bigint;
    ts timestamptz;
BEGIN
    -- audittrail-capture speaker 294f4fd01c611546
    IF NOT EXISTS (SELECT 1 FROM "speaker") THEN
        RETURN NULL;
    END IF;
    SELECT t.tx, t.issued_at INTO tx, ts FROM audittrail_tx() t;
    WITH closed AS (
        UPDATE "speaker_version" v SET end_transaction_id = tx FROM "speaker" r
         WHERE v."id" = r."id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
    INSERT INTO "speaker_version" AS v ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
    SELECT r."id", r."name", r."email", r."organisation", r."position", r."short_biography", r."event_id", r."user_id", r."deleted_at", tx, NULL, 2 FROM "speaker" r
    ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "email" = EXCLUDED."email", "organisation" = EXCLUDED."organisation", "position" = EXCLUDED."position", "short_biography" = EXCLUDED."short_biography", "event_id" = EXCLUDED."event_id", "user_id" = EXCLUDED."user_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    RETURN NULL;
END
$$
;
DROP TRIGGER IF EXISTS audittrail_capture_insert ON "speaker"
;
DROP TRIGGER IF EXISTS audittrail_capture_update ON "speaker"
;
DROP TRIGGER IF EXISTS audittrail_capture_delete ON "speaker"
;
DROP TRIGGER IF EXISTS audittrail_capture_truncate ON "speaker"
;
DROP TRIGGER IF EXISTS audittrail_stamp_insert ON "speaker"
;
DROP TRIGGER IF EXISTS audittrail_stamp_update ON "speaker"
;
CREATE TRIGGER audittrail_capture_insert AFTER INSERT ON "speaker" FOR EACH ROW EXECUTE FUNCTION audittrail_speaker_capture()
;
CREATE TRIGGER audittrail_capture_update AFTER UPDATE ON "speaker" FOR EACH ROW EXECUTE FUNCTION audittrail_speaker_capture()
;
CREATE TRIGGER audittrail_capture_delete AFTER DELETE ON "speaker" FOR EACH ROW EXECUTE FUNCTION audittrail_speaker_capture()
;
CREATE TRIGGER audittrail_capture_truncate BEFORE TRUNCATE ON "speaker" FOR EACH STATEMENT EXECUTE FUNCTION audittrail_speaker_truncate()
