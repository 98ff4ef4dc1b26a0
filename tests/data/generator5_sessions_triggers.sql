-- The update and delete triggers that capture generator 5 (revision 0006)
-- installed on sessions, verbatim: they grouped foreign statements by the
-- millisecond and merged a second change of a row into the first's version.
-- Tests install them to make the history an older database may hold.
DROP TRIGGER IF EXISTS audittrail_sessions_update
;
DROP TRIGGER IF EXISTS audittrail_sessions_delete
;
CREATE TRIGGER audittrail_sessions_update AFTER UPDATE ON "sessions" FOR EACH ROW WHEN NOT (OLD."id" IS NOT NEW."id") AND (OLD."title" IS NOT NEW."title" OR OLD."subtitle" IS NOT NEW."subtitle" OR OLD."short_abstract" IS NOT NEW."short_abstract" OR OLD."long_abstract" IS NOT NEW."long_abstract" OR OLD."comments" IS NOT NEW."comments" OR OLD."language" IS NOT NEW."language" OR OLD."level" IS NOT NEW."level" OR OLD."starts_at" IS NOT NEW."starts_at" OR OLD."ends_at" IS NOT NEW."ends_at" OR OLD."track_id" IS NOT NEW."track_id" OR OLD."microlocation_id" IS NOT NEW."microlocation_id" OR OLD."session_type_id" IS NOT NEW."session_type_id" OR OLD."event_id" IS NOT NEW."event_id" OR OLD."creator_id" IS NOT NEW."creator_id" OR OLD."slides_url" IS NOT NEW."slides_url" OR OLD."video_url" IS NOT NEW."video_url" OR OLD."audio_url" IS NOT NEW."audio_url" OR OLD."signup_url" IS NOT NEW."signup_url" OR OLD."state" IS NOT NEW."state" OR OLD."created_at" IS NOT NEW."created_at" OR OLD."submitted_at" IS NOT NEW."submitted_at" OR OLD."submission_modifier" IS NOT NEW."submission_modifier" OR OLD."is_mail_sent" IS NOT NEW."is_mail_sent" OR OLD."send_email" IS NOT NEW."send_email" OR OLD."is_locked" IS NOT NEW."is_locked" OR OLD."complex_field_values" IS NOT NEW."complex_field_values" OR OLD."deleted_at" IS NOT NEW."deleted_at")
BEGIN
    -- audittrail-capture sessions 1c9df2db13e40c5f
    
    INSERT INTO "transaction" (issued_at, origin)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), 'sql' WHERE NOT EXISTS (SELECT 1 FROM audittrail_open_transaction WHERE slot = 1 AND (statement_stamp IS NULL OR statement_stamp = (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')));
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, (SELECT max(id) FROM "transaction"), (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') WHERE NOT EXISTS (SELECT 1 FROM audittrail_open_transaction WHERE slot = 1 AND (statement_stamp IS NULL OR statement_stamp = (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')))
        ON CONFLICT (slot) DO UPDATE SET transaction_id = excluded.transaction_id,
            statement_stamp = excluded.statement_stamp, actor = NULL, origin = NULL,
            reason = NULL, remote_addr = NULL;
    INSERT INTO "transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "sessions_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "sessions_version" ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT NEW."id", NEW."title", NEW."subtitle", NEW."short_abstract", NEW."long_abstract", NEW."comments", NEW."language", NEW."level", NEW."starts_at", NEW."ends_at", NEW."track_id", NEW."microlocation_id", NEW."session_type_id", NEW."event_id", NEW."creator_id", NEW."slides_url", NEW."video_url", NEW."audio_url", NEW."signup_url", NEW."state", NEW."created_at", NEW."submitted_at", NEW."submission_modifier", NEW."is_mail_sent", NEW."send_email", NEW."is_locked", NEW."complex_field_values", NEW."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 1 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = excluded."title", "subtitle" = excluded."subtitle", "short_abstract" = excluded."short_abstract", "long_abstract" = excluded."long_abstract", "comments" = excluded."comments", "language" = excluded."language", "level" = excluded."level", "starts_at" = excluded."starts_at", "ends_at" = excluded."ends_at", "track_id" = excluded."track_id", "microlocation_id" = excluded."microlocation_id", "session_type_id" = excluded."session_type_id", "event_id" = excluded."event_id", "creator_id" = excluded."creator_id", "slides_url" = excluded."slides_url", "video_url" = excluded."video_url", "audio_url" = excluded."audio_url", "signup_url" = excluded."signup_url", "state" = excluded."state", "created_at" = excluded."created_at", "submitted_at" = excluded."submitted_at", "submission_modifier" = excluded."submission_modifier", "is_mail_sent" = excluded."is_mail_sent", "send_email" = excluded."send_email", "is_locked" = excluded."is_locked", "complex_field_values" = excluded."complex_field_values", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "sessions_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    UPDATE "sessions" SET "last_modified_at" = max(coalesce(OLD."last_modified_at", ''), (SELECT issued_at FROM "transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1))) WHERE "id" = NEW."id" AND "last_modified_at" IS NOT max(coalesce(OLD."last_modified_at", ''), (SELECT issued_at FROM "transaction" WHERE id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1)));
    
END
;
CREATE TRIGGER audittrail_sessions_delete AFTER DELETE ON "sessions" FOR EACH ROW
BEGIN
    -- audittrail-capture sessions 1c9df2db13e40c5f
    
    INSERT INTO "transaction" (issued_at, origin)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), 'sql' WHERE NOT EXISTS (SELECT 1 FROM audittrail_open_transaction WHERE slot = 1 AND (statement_stamp IS NULL OR statement_stamp = (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')));
    INSERT INTO audittrail_open_transaction (slot, transaction_id, statement_stamp)
        SELECT 1, (SELECT max(id) FROM "transaction"), (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') WHERE NOT EXISTS (SELECT 1 FROM audittrail_open_transaction WHERE slot = 1 AND (statement_stamp IS NULL OR statement_stamp = (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')))
        ON CONFLICT (slot) DO UPDATE SET transaction_id = excluded.transaction_id,
            statement_stamp = excluded.statement_stamp, actor = NULL, origin = NULL,
            reason = NULL, remote_addr = NULL;
    INSERT INTO "transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'), actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM audittrail_open_transaction WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE audittrail_open_transaction SET transaction_id = (SELECT max(id) FROM "transaction")
     WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE "sessions_version" SET end_transaction_id = (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1) WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1);
    INSERT INTO "sessions_version" ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type) SELECT OLD."id", OLD."title", OLD."subtitle", OLD."short_abstract", OLD."long_abstract", OLD."comments", OLD."language", OLD."level", OLD."starts_at", OLD."ends_at", OLD."track_id", OLD."microlocation_id", OLD."session_type_id", OLD."event_id", OLD."creator_id", OLD."slides_url", OLD."video_url", OLD."audio_url", OLD."signup_url", OLD."state", OLD."created_at", OLD."submitted_at", OLD."submission_modifier", OLD."is_mail_sent", OLD."send_email", OLD."is_locked", OLD."complex_field_values", OLD."deleted_at", (SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1), NULL, 2 WHERE true ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = excluded."title", "subtitle" = excluded."subtitle", "short_abstract" = excluded."short_abstract", "long_abstract" = excluded."long_abstract", "comments" = excluded."comments", "language" = excluded."language", "level" = excluded."level", "starts_at" = excluded."starts_at", "ends_at" = excluded."ends_at", "track_id" = excluded."track_id", "microlocation_id" = excluded."microlocation_id", "session_type_id" = excluded."session_type_id", "event_id" = excluded."event_id", "creator_id" = excluded."creator_id", "slides_url" = excluded."slides_url", "video_url" = excluded."video_url", "audio_url" = excluded."audio_url", "signup_url" = excluded."signup_url", "state" = excluded."state", "created_at" = excluded."created_at", "submitted_at" = excluded."submitted_at", "submission_modifier" = excluded."submission_modifier", "is_mail_sent" = excluded."is_mail_sent", "send_email" = excluded."send_email", "is_locked" = excluded."is_locked", "complex_field_values" = excluded."complex_field_values", "deleted_at" = excluded."deleted_at", operation_type = CASE WHEN "sessions_version".operation_type = 0 AND excluded.operation_type = 1 THEN 0 ELSE excluded.operation_type END;
    
END
;
