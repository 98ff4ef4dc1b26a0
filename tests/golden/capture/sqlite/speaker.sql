DROP TRIGGER IF EXISTS audittrail_speaker_insert
;
DROP TRIGGER IF EXISTS audittrail_speaker_update
;
DROP TRIGGER IF EXISTS audittrail_speaker_rekey
;
DROP TRIGGER IF EXISTS audittrail_speaker_delete
;
CREATE TRIGGER audittrail_speaker_insert AFTER INSERT ON "speaker" FOR EACH ROW
BEGIN
    -- audittrail-capture speaker 13cbe9fe597e7bfd
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_speaker_version" WHERE "audittrail_speaker_version"."id" = NEW."id" AND "audittrail_speaker_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_speaker_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speaker_version" ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."email", NEW."organisation", NEW."position", NEW."short_biography", NEW."event_id", NEW."user_id", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "email" = excluded."email", "organisation" = excluded."organisation", "position" = excluded."position", "short_biography" = excluded."short_biography", "event_id" = excluded."event_id", "user_id" = excluded."user_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_speaker_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_speaker_update AFTER UPDATE ON "speaker" FOR EACH ROW WHEN NOT (OLD."id" IS NOT NEW."id") AND (OLD."name" IS NOT NEW."name" OR OLD."email" IS NOT NEW."email" OR OLD."organisation" IS NOT NEW."organisation" OR OLD."position" IS NOT NEW."position" OR OLD."short_biography" IS NOT NEW."short_biography" OR OLD."event_id" IS NOT NEW."event_id" OR OLD."user_id" IS NOT NEW."user_id" OR OLD."deleted_at" IS NOT NEW."deleted_at")
BEGIN
    -- audittrail-capture speaker 13cbe9fe597e7bfd
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_speaker_version" WHERE "audittrail_speaker_version"."id" = NEW."id" AND "audittrail_speaker_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_speaker_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speaker_version" ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."email", NEW."organisation", NEW."position", NEW."short_biography", NEW."event_id", NEW."user_id", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 1 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "email" = excluded."email", "organisation" = excluded."organisation", "position" = excluded."position", "short_biography" = excluded."short_biography", "event_id" = excluded."event_id", "user_id" = excluded."user_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_speaker_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_speaker_rekey AFTER UPDATE ON "speaker" FOR EACH ROW WHEN (OLD."id" IS NOT NEW."id")
BEGIN
    -- audittrail-capture speaker 13cbe9fe597e7bfd
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_speaker_version" WHERE "audittrail_speaker_version"."id" = OLD."id" AND "audittrail_speaker_version".transaction_id = audittrail_open_transaction.transaction_id) OR EXISTS (SELECT 1 FROM "audittrail_speaker_version" WHERE "audittrail_speaker_version"."id" = NEW."id" AND "audittrail_speaker_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_speaker_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speaker_version" ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT OLD."id", OLD."name", OLD."email", OLD."organisation", OLD."position", OLD."short_biography", OLD."event_id", OLD."user_id", OLD."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "email" = excluded."email", "organisation" = excluded."organisation", "position" = excluded."position", "short_biography" = excluded."short_biography", "event_id" = excluded."event_id", "user_id" = excluded."user_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_speaker_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "audittrail_speaker_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speaker_version" ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."name", NEW."email", NEW."organisation", NEW."position", NEW."short_biography", NEW."event_id", NEW."user_id", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "email" = excluded."email", "organisation" = excluded."organisation", "position" = excluded."position", "short_biography" = excluded."short_biography", "event_id" = excluded."event_id", "user_id" = excluded."user_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_speaker_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_speaker_delete AFTER DELETE ON "speaker" FOR EACH ROW
BEGIN
    -- audittrail-capture speaker 13cbe9fe597e7bfd
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_speaker_version" WHERE "audittrail_speaker_version"."id" = OLD."id" AND "audittrail_speaker_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_speaker_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speaker_version" ("id", "name", "email", "organisation", "position", "short_biography", "event_id", "user_id", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT OLD."id", OLD."name", OLD."email", OLD."organisation", OLD."position", OLD."short_biography", OLD."event_id", OLD."user_id", OLD."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "name" = excluded."name", "email" = excluded."email", "organisation" = excluded."organisation", "position" = excluded."position", "short_biography" = excluded."short_biography", "event_id" = excluded."event_id", "user_id" = excluded."user_id", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "audittrail_speaker_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
DROP TRIGGER IF EXISTS audittrail_speaker_version_append_only_update
;
DROP TRIGGER IF EXISTS audittrail_speaker_version_append_only_delete
;
CREATE TRIGGER audittrail_speaker_version_append_only_update BEFORE UPDATE ON "audittrail_speaker_version" FOR EACH ROW WHEN NOT coalesce((OLD.transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND NEW.transaction_id = OLD.transaction_id) OR (OLD.end_transaction_id IS NULL AND NEW.end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND OLD."id" IS NEW."id" AND OLD."name" IS NEW."name" AND OLD."email" IS NEW."email" AND OLD."organisation" IS NEW."organisation" AND OLD."position" IS NEW."position" AND OLD."short_biography" IS NEW."short_biography" AND OLD."event_id" IS NEW."event_id" AND OLD."user_id" IS NEW."user_id" AND OLD."deleted_at" IS NEW."deleted_at" AND OLD."transaction_id" IS NEW."transaction_id" AND OLD."operation_type" IS NEW."operation_type"), 0)
BEGIN
    -- audittrail-capture speaker 13cbe9fe597e7bfd
    SELECT RAISE(ABORT, 'history is append-only: UPDATE of audittrail_speaker_version refused');
END
;
CREATE TRIGGER audittrail_speaker_version_append_only_delete BEFORE DELETE ON "audittrail_speaker_version" FOR EACH ROW
BEGIN
    -- audittrail-capture speaker 13cbe9fe597e7bfd
    SELECT RAISE(ABORT, 'history is append-only: DELETE of audittrail_speaker_version refused');
END
