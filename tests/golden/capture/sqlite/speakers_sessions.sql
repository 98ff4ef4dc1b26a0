DROP TRIGGER IF EXISTS audittrail_speakers_sessions_insert
;
DROP TRIGGER IF EXISTS audittrail_speakers_sessions_update
;
DROP TRIGGER IF EXISTS audittrail_speakers_sessions_rekey
;
DROP TRIGGER IF EXISTS audittrail_speakers_sessions_delete
;
CREATE TRIGGER audittrail_speakers_sessions_insert AFTER INSERT ON "speakers_sessions" FOR EACH ROW
BEGIN
    -- audittrail-capture speakers_sessions fe47a2e42dc747da
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_speakers_sessions_version" WHERE "audittrail_speakers_sessions_version"."speaker_id" = NEW."speaker_id" AND "audittrail_speakers_sessions_version"."session_id" = NEW."session_id" AND "audittrail_speakers_sessions_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_speakers_sessions_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "speaker_id" = NEW."speaker_id" AND "session_id" = NEW."session_id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speakers_sessions_version" ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type) SELECT NEW."speaker_id", NEW."session_id", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN "audittrail_speakers_sessions_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "sessions" SET "last_modified_at" = (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)) WHERE "id" = NEW."session_id" AND ("last_modified_at" IS NULL OR "last_modified_at" < (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)));
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_speakers_sessions_rekey AFTER UPDATE ON "speakers_sessions" FOR EACH ROW WHEN (OLD."speaker_id" IS NOT NEW."speaker_id" OR OLD."session_id" IS NOT NEW."session_id")
BEGIN
    -- audittrail-capture speakers_sessions fe47a2e42dc747da
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_speakers_sessions_version" WHERE "audittrail_speakers_sessions_version"."speaker_id" = OLD."speaker_id" AND "audittrail_speakers_sessions_version"."session_id" = OLD."session_id" AND "audittrail_speakers_sessions_version".transaction_id = audittrail_open_transaction.transaction_id) OR EXISTS (SELECT 1 FROM "audittrail_speakers_sessions_version" WHERE "audittrail_speakers_sessions_version"."speaker_id" = NEW."speaker_id" AND "audittrail_speakers_sessions_version"."session_id" = NEW."session_id" AND "audittrail_speakers_sessions_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_speakers_sessions_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "speaker_id" = OLD."speaker_id" AND "session_id" = OLD."session_id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speakers_sessions_version" ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type) SELECT OLD."speaker_id", OLD."session_id", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN "audittrail_speakers_sessions_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "audittrail_speakers_sessions_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "speaker_id" = NEW."speaker_id" AND "session_id" = NEW."session_id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speakers_sessions_version" ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type) SELECT NEW."speaker_id", NEW."session_id", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 0 WHERE true ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN "audittrail_speakers_sessions_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "sessions" SET "last_modified_at" = (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)) WHERE "id" = NEW."session_id" AND ("last_modified_at" IS NULL OR "last_modified_at" < (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)));
    UPDATE "sessions" SET "last_modified_at" = (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)) WHERE "id" = OLD."session_id" AND ("last_modified_at" IS NULL OR "last_modified_at" < (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)));
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
CREATE TRIGGER audittrail_speakers_sessions_delete AFTER DELETE ON "speakers_sessions" FOR EACH ROW
BEGIN
    -- audittrail-capture speakers_sessions fe47a2e42dc747da
    
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, ((strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') || ' ' || changes() || ' ' || total_changes()) WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE audittrail_open_transaction.statement_stamp IS NOT NULL
          AND (audittrail_open_transaction.statement_stamp IS NOT excluded.statement_stamp
               OR EXISTS (SELECT 1 FROM "audittrail_speakers_sessions_version" WHERE "audittrail_speakers_sessions_version"."speaker_id" = OLD."speaker_id" AND "audittrail_speakers_sessions_version"."session_id" = OLD."session_id" AND "audittrail_speakers_sessions_version".transaction_id = audittrail_open_transaction.transaction_id));
    INSERT INTO "audittrail_transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "audittrail_transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "audittrail_speakers_sessions_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "speaker_id" = OLD."speaker_id" AND "session_id" = OLD."session_id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "audittrail_speakers_sessions_version" ("speaker_id", "session_id", transaction_id, end_transaction_id, operation_type) SELECT OLD."speaker_id", OLD."session_id", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("speaker_id", "session_id", transaction_id) DO UPDATE SET operation_type = CASE WHEN "audittrail_speakers_sessions_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "sessions" SET "last_modified_at" = (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)) WHERE "id" = OLD."session_id" AND ("last_modified_at" IS NULL OR "last_modified_at" < (SELECT issued_at FROM "audittrail_transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)));
    UPDATE audittrail_open_transaction SET statement_stamp = rtrim(statement_stamp, '0123456789') || (total_changes() + 1) WHERE slot = 1 AND statement_stamp IS NOT NULL;
END
;
DROP TRIGGER IF EXISTS audittrail_speakers_sessions_version_append_only_update
;
DROP TRIGGER IF EXISTS audittrail_speakers_sessions_version_append_only_delete
;
CREATE TRIGGER audittrail_speakers_sessions_version_append_only_update BEFORE UPDATE ON "audittrail_speakers_sessions_version" FOR EACH ROW WHEN NOT coalesce((OLD.transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND NEW.transaction_id = OLD.transaction_id) OR (OLD.end_transaction_id IS NULL AND NEW.end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) AND OLD."speaker_id" IS NEW."speaker_id" AND OLD."session_id" IS NEW."session_id" AND OLD."transaction_id" IS NEW."transaction_id" AND OLD."operation_type" IS NEW."operation_type"), 0)
BEGIN
    -- audittrail-capture speakers_sessions fe47a2e42dc747da
    SELECT RAISE(ABORT, 'history is append-only: UPDATE of audittrail_speakers_sessions_version refused');
END
;
CREATE TRIGGER audittrail_speakers_sessions_version_append_only_delete BEFORE DELETE ON "audittrail_speakers_sessions_version" FOR EACH ROW
BEGIN
    -- audittrail-capture speakers_sessions fe47a2e42dc747da
    SELECT RAISE(ABORT, 'history is append-only: DELETE of audittrail_speakers_sessions_version refused');
END
