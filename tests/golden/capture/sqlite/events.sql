DROP TRIGGER IF EXISTS audittrail_events_insert
;
DROP TRIGGER IF EXISTS audittrail_events_update
;
DROP TRIGGER IF EXISTS audittrail_events_rekey
;
DROP TRIGGER IF EXISTS audittrail_events_delete
;
CREATE TRIGGER audittrail_events_insert AFTER INSERT ON "events" FOR EACH ROW
BEGIN
    -- audittrail-capture events ebd3a9f9d34444b4
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_events_version" WHERE "audittrail_events_version"."id" = NEW."id" AND "audittrail_events_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_events_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_events_version" ("id", "name", "description", "location_name", "timezone", "starts_at", "ends_at", "state", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."description", NEW."location_name", NEW."timezone", NEW."starts_at", NEW."ends_at", NEW."state", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "location_name" = excluded."location_name", "timezone" = excluded."timezone", "starts_at" = excluded."starts_at", "ends_at" = excluded."ends_at", "state" = excluded."state", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_events_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_events_update AFTER UPDATE ON "events" FOR EACH ROW WHEN NOT (OLD."id" IS NOT NEW."id") AND (OLD."name" IS NOT NEW."name" OR OLD."description" IS NOT NEW."description" OR OLD."location_name" IS NOT NEW."location_name" OR OLD."timezone" IS NOT NEW."timezone" OR OLD."starts_at" IS NOT NEW."starts_at" OR OLD."ends_at" IS NOT NEW."ends_at" OR OLD."state" IS NOT NEW."state" OR OLD."deleted_at" IS NOT NEW."deleted_at")
BEGIN
    -- audittrail-capture events ebd3a9f9d34444b4
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_events_version" WHERE "audittrail_events_version"."id" = NEW."id" AND "audittrail_events_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_events_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_events_version" ("id", "name", "description", "location_name", "timezone", "starts_at", "ends_at", "state", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."description", NEW."location_name", NEW."timezone", NEW."starts_at", NEW."ends_at", NEW."state", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 1 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "location_name" = excluded."location_name", "timezone" = excluded."timezone", "starts_at" = excluded."starts_at", "ends_at" = excluded."ends_at", "state" = excluded."state", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_events_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_events_rekey AFTER UPDATE ON "events" FOR EACH ROW WHEN (OLD."id" IS NOT NEW."id")
BEGIN
    -- audittrail-capture events ebd3a9f9d34444b4
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_events_version" WHERE "audittrail_events_version"."id" = OLD."id" AND "audittrail_events_version".transaction_id = audittrail_open_transaction.transaction_id) OR EXISTS (SELECT 1 FROM "audittrail_events_version" WHERE "audittrail_events_version"."id" = NEW."id" AND "audittrail_events_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_events_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_events_version" ("id", "name", "description", "location_name", "timezone", "starts_at", "ends_at", "state", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT OLD."id", OLD."name", OLD."description", OLD."location_name", OLD."timezone", OLD."starts_at", OLD."ends_at", OLD."state", OLD."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "location_name" = excluded."location_name", "timezone" = excluded."timezone", "starts_at" = excluded."starts_at", "ends_at" = excluded."ends_at", "state" = excluded."state", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_events_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "audittrail_events_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_events_version" ("id", "name", "description", "location_name", "timezone", "starts_at", "ends_at", "state", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."description", NEW."location_name", NEW."timezone", NEW."starts_at", NEW."ends_at", NEW."state", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "location_name" = excluded."location_name", "timezone" = excluded."timezone", "starts_at" = excluded."starts_at", "ends_at" = excluded."ends_at", "state" = excluded."state", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_events_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_events_delete AFTER DELETE ON "events" FOR EACH ROW
BEGIN
    -- audittrail-capture events ebd3a9f9d34444b4
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_events_version" WHERE "audittrail_events_version"."id" = OLD."id" AND "audittrail_events_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_events_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_events_version" ("id", "name", "description", "location_name", "timezone", "starts_at", "ends_at", "state", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT OLD."id", OLD."name", OLD."description", OLD."location_name", OLD."timezone", OLD."starts_at", OLD."ends_at", OLD."state", OLD."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "description" = excluded."description", "location_name" = excluded."location_name", "timezone" = excluded."timezone", "starts_at" = excluded."starts_at", "ends_at" = excluded."ends_at", "state" = excluded."state", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_events_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
DROP TRIGGER IF EXISTS audittrail_events_version_append_only_update
;
DROP TRIGGER IF EXISTS audittrail_events_version_append_only_delete
;
CREATE TRIGGER audittrail_events_version_append_only_update BEFORE UPDATE ON "audittrail_events_version" FOR EACH ROW WHEN NOT coalesce((OLD.transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND NEW.transaction_id = OLD.transaction_id) OR (OLD.end_transaction_id IS NULL AND NEW.end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND OLD."id" IS NEW."id" AND OLD."name" IS NEW."name" AND OLD."description" IS NEW."description" AND OLD."location_name" IS NEW."location_name" AND OLD."timezone" IS NEW."timezone" AND OLD."starts_at" IS NEW."starts_at" AND OLD."ends_at" IS NEW."ends_at" AND OLD."state" IS NEW."state" AND OLD."deleted_at" IS NEW."deleted_at" AND OLD."transaction_id" IS NEW."transaction_id" AND OLD."operation_type" IS NEW."operation_type"), 0)
BEGIN
    -- audittrail-capture events ebd3a9f9d34444b4
    SELECT RAISE(ABORT, 'history is append-only: UPDATE of audittrail_events_version refused');
END
;
CREATE TRIGGER audittrail_events_version_append_only_delete BEFORE DELETE ON "audittrail_events_version" FOR EACH ROW
BEGIN
    -- audittrail-capture events ebd3a9f9d34444b4
    SELECT RAISE(ABORT, 'history is append-only: DELETE of audittrail_events_version refused');
END
