DROP TRIGGER IF EXISTS audittrail_tracks_insert
;
DROP TRIGGER IF EXISTS audittrail_tracks_update
;
DROP TRIGGER IF EXISTS audittrail_tracks_rekey
;
DROP TRIGGER IF EXISTS audittrail_tracks_delete
;
CREATE TRIGGER audittrail_tracks_insert AFTER INSERT ON "tracks" FOR EACH ROW
BEGIN
    -- audittrail-capture tracks 7a2b6c468788f814
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_tracks_version" WHERE "audittrail_tracks_version"."id" = NEW."id" AND "audittrail_tracks_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_tracks_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_tracks_version" ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."description", NEW."color", NEW."event_id", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "color" = excluded."color", "event_id" = excluded."event_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_tracks_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_tracks_update AFTER UPDATE ON "tracks" FOR EACH ROW WHEN NOT (OLD."id" IS NOT NEW."id") AND (OLD."name" IS NOT NEW."name" OR OLD."description" IS NOT NEW."description" OR OLD."color" IS NOT NEW."color" OR OLD."event_id" IS NOT NEW."event_id" OR OLD."deleted_at" IS NOT NEW."deleted_at")
BEGIN
    -- audittrail-capture tracks 7a2b6c468788f814
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_tracks_version" WHERE "audittrail_tracks_version"."id" = NEW."id" AND "audittrail_tracks_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_tracks_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_tracks_version" ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."description", NEW."color", NEW."event_id", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 1 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "color" = excluded."color", "event_id" = excluded."event_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_tracks_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_tracks_rekey AFTER UPDATE ON "tracks" FOR EACH ROW WHEN (OLD."id" IS NOT NEW."id")
BEGIN
    -- audittrail-capture tracks 7a2b6c468788f814
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_tracks_version" WHERE "audittrail_tracks_version"."id" = OLD."id" AND "audittrail_tracks_version".transaction_id = audittrail_open_transaction.transaction_id) OR EXISTS (SELECT 1 FROM "audittrail_tracks_version" WHERE "audittrail_tracks_version"."id" = NEW."id" AND "audittrail_tracks_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_tracks_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_tracks_version" ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT OLD."id", OLD."name", OLD."description", OLD."color", OLD."event_id", OLD."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "color" = excluded."color", "event_id" = excluded."event_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_tracks_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "audittrail_tracks_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_tracks_version" ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."description", NEW."color", NEW."event_id", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "color" = excluded."color", "event_id" = excluded."event_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_tracks_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_tracks_delete AFTER DELETE ON "tracks" FOR EACH ROW
BEGIN
    -- audittrail-capture tracks 7a2b6c468788f814
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_tracks_version" WHERE "audittrail_tracks_version"."id" = OLD."id" AND "audittrail_tracks_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_tracks_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_tracks_version" ("id", "name", "description", "color", "event_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT OLD."id", OLD."name", OLD."description", OLD."color", OLD."event_id", OLD."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "color" = excluded."color", "event_id" = excluded."event_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_tracks_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
DROP TRIGGER IF EXISTS audittrail_tracks_version_append_only_update
;
DROP TRIGGER IF EXISTS audittrail_tracks_version_append_only_delete
;
CREATE TRIGGER audittrail_tracks_version_append_only_update BEFORE UPDATE ON "audittrail_tracks_version" FOR EACH ROW WHEN NOT coalesce((OLD.transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND NEW.transaction_id = OLD.transaction_id) OR (OLD.end_transaction_id IS NULL AND NEW.end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND OLD."id" IS NEW."id" AND OLD."name" IS NEW."name" AND OLD."description" IS NEW."description" AND OLD."color" IS NEW."color" AND OLD."event_id" IS NEW."event_id" AND OLD."deleted_at" IS NEW."deleted_at" AND OLD."transaction_id" IS NEW."transaction_id" AND OLD."operation_type" IS NEW."operation_type"), 0)
BEGIN
    -- audittrail-capture tracks 7a2b6c468788f814
    SELECT RAISE(ABORT, 'history is append-only: UPDATE of audittrail_tracks_version refused');
END
;
CREATE TRIGGER audittrail_tracks_version_append_only_delete BEFORE DELETE ON "audittrail_tracks_version" FOR EACH ROW
BEGIN
    -- audittrail-capture tracks 7a2b6c468788f814
    SELECT RAISE(ABORT, 'history is append-only: DELETE of audittrail_tracks_version refused');
END
