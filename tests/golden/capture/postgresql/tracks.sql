CREATE OR REPLACE FUNCTION audittrail_tracks_capture() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    cached text;
    tx bigint;
    ts timestamptz;
BEGIN
    -- audittrail-capture tracks 00c48c53ae2bc70d
    IF TG_OP = 'UPDATE' AND ROW(OLD."id", OLD."name", OLD."description", OLD."color", OLD."event_id", OLD."deleted_at") IS NOT DISTINCT FROM ROW(NEW."id", NEW."name", NEW."description", NEW."color", NEW."event_id", NEW."deleted_at") THEN
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
            UPDATE "tracks_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "tracks_version" AS v ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."name", NEW."description", NEW."color", NEW."event_id", NEW."deleted_at", tx, NULL, 0)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "description" = EXCLUDED."description", "color" = EXCLUDED."color", "event_id" = EXCLUDED."event_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSIF TG_OP = 'DELETE' THEN
        
        WITH closed AS (
            UPDATE "tracks_version" SET end_transaction_id = tx
             WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "tracks_version" AS v ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."id", OLD."name", OLD."description", OLD."color", OLD."event_id", OLD."deleted_at", tx, NULL, 2)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "description" = EXCLUDED."description", "color" = EXCLUDED."color", "event_id" = EXCLUDED."event_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSIF ROW(OLD."id") IS DISTINCT FROM ROW(NEW."id") THEN
        -- A new key is a new identity: the old one is deleted, the new inserted.
        
        WITH closed AS (
            UPDATE "tracks_version" SET end_transaction_id = tx
             WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "tracks_version" AS v ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."id", OLD."name", OLD."description", OLD."color", OLD."event_id", OLD."deleted_at", tx, NULL, 2)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "description" = EXCLUDED."description", "color" = EXCLUDED."color", "event_id" = EXCLUDED."event_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        
        WITH closed AS (
            UPDATE "tracks_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "tracks_version" AS v ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."name", NEW."description", NEW."color", NEW."event_id", NEW."deleted_at", tx, NULL, 0)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "description" = EXCLUDED."description", "color" = EXCLUDED."color", "event_id" = EXCLUDED."event_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSE
        
        WITH closed AS (
            UPDATE "tracks_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "tracks_version" AS v ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."name", NEW."description", NEW."color", NEW."event_id", NEW."deleted_at", tx, NULL, 1)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "description" = EXCLUDED."description", "color" = EXCLUDED."color", "event_id" = EXCLUDED."event_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    END IF;
    RETURN NULL;
END
$$
;
CREATE OR REPLACE FUNCTION audittrail_tracks_truncate() RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
    tx bigint;
    ts timestamptz;
BEGIN
    -- audittrail-capture tracks 00c48c53ae2bc70d
    IF NOT EXISTS (SELECT 1 FROM "tracks") THEN
        RETURN NULL;
    END IF;
    SELECT t.tx, t.issued_at INTO tx, ts FROM audittrail_tx() t;
    WITH closed AS (
        UPDATE "tracks_version" v SET end_transaction_id = tx FROM "tracks" r
         WHERE v."id" = r."id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
    INSERT INTO "tracks_version" AS v ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type)
    SELECT r."id", r."name", r."description", r."color", r."event_id", r."deleted_at", tx, NULL, 2 FROM "tracks" r
    ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = EXCLUDED."name", "description" = EXCLUDED."description", "color" = EXCLUDED."color", "event_id" = EXCLUDED."event_id", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    RETURN NULL;
END
$$
;
DROP TRIGGER IF EXISTS audittrail_capture_insert ON "tracks"
;
DROP TRIGGER IF EXISTS audittrail_capture_update ON "tracks"
;
DROP TRIGGER IF EXISTS audittrail_capture_delete ON "tracks"
;
DROP TRIGGER IF EXISTS audittrail_capture_truncate ON "tracks"
;
DROP TRIGGER IF EXISTS audittrail_stamp_insert ON "tracks"
;
DROP TRIGGER IF EXISTS audittrail_stamp_update ON "tracks"
;
CREATE TRIGGER audittrail_capture_insert AFTER INSERT ON "tracks" FOR EACH ROW EXECUTE FUNCTION audittrail_tracks_capture()
;
CREATE TRIGGER audittrail_capture_update AFTER UPDATE ON "tracks" FOR EACH ROW EXECUTE FUNCTION audittrail_tracks_capture()
;
CREATE TRIGGER audittrail_capture_delete AFTER DELETE ON "tracks" FOR EACH ROW EXECUTE FUNCTION audittrail_tracks_capture()
;
CREATE TRIGGER audittrail_capture_truncate BEFORE TRUNCATE ON "tracks" FOR EACH STATEMENT EXECUTE FUNCTION audittrail_tracks_truncate()
