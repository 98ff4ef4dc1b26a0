CREATE OR REPLACE FUNCTION "audittrail"."audittrail_sessions_capture"() RETURNS trigger LANGUAGE plpgsql
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
    -- audittrail-capture sessions 5fb402654ce0ff61
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
                     WHERE NOT EXISTS (SELECT 1 FROM audittrail_new_rows n WHERE (n."id") = (o."id"))
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
            IF NOT EXISTS (SELECT n.* FROM audittrail_new_rows n JOIN audittrail_old_rows o ON (o."id") = (n."id") WHERE ROW(o."id", o."title", o."subtitle", o."short_abstract", o."long_abstract", o."comments", o."language", o."level", o."starts_at", o."ends_at", o."track_id", o."microlocation_id", o."session_type_id", o."event_id", o."creator_id", o."slides_url", o."video_url", o."audio_url", o."signup_url", o."state", o."created_at", o."submitted_at", o."submission_modifier", o."is_mail_sent", o."send_email", o."is_locked", o."complex_field_values", o."deleted_at") IS DISTINCT FROM ROW(n."id", n."title", n."subtitle", n."short_abstract", n."long_abstract", n."comments", n."language", n."level", n."starts_at", n."ends_at", n."track_id", n."microlocation_id", n."session_type_id", n."event_id", n."creator_id", n."slides_url", n."video_url", n."audio_url", n."signup_url", n."state", n."created_at", n."submitted_at", n."submission_modifier", n."is_mail_sent", n."send_email", n."is_locked", n."complex_field_values", n."deleted_at")) THEN
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
                UPDATE "audittrail"."audittrail_sessions_version" v SET end_transaction_id = tx FROM r
                 WHERE v."id" = r."id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
            INSERT INTO "audittrail"."audittrail_sessions_version" AS v
                ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
            SELECT r."id", r."title", r."subtitle", r."short_abstract", r."long_abstract", r."comments", r."language", r."level", r."starts_at", r."ends_at", r."track_id", r."microlocation_id", r."session_type_id", r."event_id", r."creator_id", r."slides_url", r."video_url", r."audio_url", r."signup_url", r."state", r."created_at", r."submitted_at", r."submission_modifier", r."is_mail_sent", r."send_email", r."is_locked", r."complex_field_values", r."deleted_at", tx, NULL, 0 FROM r
            ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        ELSIF TG_OP = 'DELETE' THEN
            WITH r AS (SELECT * FROM audittrail_old_rows),
            closed AS (
                UPDATE "audittrail"."audittrail_sessions_version" v SET end_transaction_id = tx FROM r
                 WHERE v."id" = r."id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
            INSERT INTO "audittrail"."audittrail_sessions_version" AS v
                ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
            SELECT r."id", r."title", r."subtitle", r."short_abstract", r."long_abstract", r."comments", r."language", r."level", r."starts_at", r."ends_at", r."track_id", r."microlocation_id", r."session_type_id", r."event_id", r."creator_id", r."slides_url", r."video_url", r."audio_url", r."signup_url", r."state", r."created_at", r."submitted_at", r."submission_modifier", r."is_mail_sent", r."send_email", r."is_locked", r."complex_field_values", r."deleted_at", tx, NULL, 2 FROM r
            ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        ELSE
            WITH r AS (SELECT n.* FROM audittrail_new_rows n JOIN audittrail_old_rows o ON (o."id") = (n."id") WHERE ROW(o."id", o."title", o."subtitle", o."short_abstract", o."long_abstract", o."comments", o."language", o."level", o."starts_at", o."ends_at", o."track_id", o."microlocation_id", o."session_type_id", o."event_id", o."creator_id", o."slides_url", o."video_url", o."audio_url", o."signup_url", o."state", o."created_at", o."submitted_at", o."submission_modifier", o."is_mail_sent", o."send_email", o."is_locked", o."complex_field_values", o."deleted_at") IS DISTINCT FROM ROW(n."id", n."title", n."subtitle", n."short_abstract", n."long_abstract", n."comments", n."language", n."level", n."starts_at", n."ends_at", n."track_id", n."microlocation_id", n."session_type_id", n."event_id", n."creator_id", n."slides_url", n."video_url", n."audio_url", n."signup_url", n."state", n."created_at", n."submitted_at", n."submission_modifier", n."is_mail_sent", n."send_email", n."is_locked", n."complex_field_values", n."deleted_at")),
            closed AS (
                UPDATE "audittrail"."audittrail_sessions_version" v SET end_transaction_id = tx FROM r
                 WHERE v."id" = r."id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
            INSERT INTO "audittrail"."audittrail_sessions_version" AS v
                ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
            SELECT r."id", r."title", r."subtitle", r."short_abstract", r."long_abstract", r."comments", r."language", r."level", r."starts_at", r."ends_at", r."track_id", r."microlocation_id", r."session_type_id", r."event_id", r."creator_id", r."slides_url", r."video_url", r."audio_url", r."signup_url", r."state", r."created_at", r."submitted_at", r."submission_modifier", r."is_mail_sent", r."send_email", r."is_locked", r."complex_field_values", r."deleted_at", tx, NULL, 1 FROM r
            ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND ROW(OLD."id", OLD."title", OLD."subtitle", OLD."short_abstract", OLD."long_abstract", OLD."comments", OLD."language", OLD."level", OLD."starts_at", OLD."ends_at", OLD."track_id", OLD."microlocation_id", OLD."session_type_id", OLD."event_id", OLD."creator_id", OLD."slides_url", OLD."video_url", OLD."audio_url", OLD."signup_url", OLD."state", OLD."created_at", OLD."submitted_at", OLD."submission_modifier", OLD."is_mail_sent", OLD."send_email", OLD."is_locked", OLD."complex_field_values", OLD."deleted_at") IS NOT DISTINCT FROM ROW(NEW."id", NEW."title", NEW."subtitle", NEW."short_abstract", NEW."long_abstract", NEW."comments", NEW."language", NEW."level", NEW."starts_at", NEW."ends_at", NEW."track_id", NEW."microlocation_id", NEW."session_type_id", NEW."event_id", NEW."creator_id", NEW."slides_url", NEW."video_url", NEW."audio_url", NEW."signup_url", NEW."state", NEW."created_at", NEW."submitted_at", NEW."submission_modifier", NEW."is_mail_sent", NEW."send_email", NEW."is_locked", NEW."complex_field_values", NEW."deleted_at") THEN
        RETURN NULL;
    END IF;
    tx := pg_current_xact_id()::text::bigint;
        SELECT t.issued_at INTO ts FROM "audittrail"."audittrail_transaction" t WHERE t.id = tx;
        IF NOT FOUND THEN
            SELECT t.tx, t.issued_at INTO tx, ts FROM "audittrail"."audittrail_tx"() t;
        END IF;
    IF TG_OP = 'INSERT' THEN
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_sessions_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_sessions_version" AS v ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."title", NEW."subtitle", NEW."short_abstract", NEW."long_abstract", NEW."comments", NEW."language", NEW."level", NEW."starts_at", NEW."ends_at", NEW."track_id", NEW."microlocation_id", NEW."session_type_id", NEW."event_id", NEW."creator_id", NEW."slides_url", NEW."video_url", NEW."audio_url", NEW."signup_url", NEW."state", NEW."created_at", NEW."submitted_at", NEW."submission_modifier", NEW."is_mail_sent", NEW."send_email", NEW."is_locked", NEW."complex_field_values", NEW."deleted_at", tx, NULL, 0)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSIF TG_OP = 'DELETE' THEN
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_sessions_version" SET end_transaction_id = tx
             WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_sessions_version" AS v ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."id", OLD."title", OLD."subtitle", OLD."short_abstract", OLD."long_abstract", OLD."comments", OLD."language", OLD."level", OLD."starts_at", OLD."ends_at", OLD."track_id", OLD."microlocation_id", OLD."session_type_id", OLD."event_id", OLD."creator_id", OLD."slides_url", OLD."video_url", OLD."audio_url", OLD."signup_url", OLD."state", OLD."created_at", OLD."submitted_at", OLD."submission_modifier", OLD."is_mail_sent", OLD."send_email", OLD."is_locked", OLD."complex_field_values", OLD."deleted_at", tx, NULL, 2)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSIF ROW(OLD."id") IS DISTINCT FROM ROW(NEW."id") THEN
        -- A new key is a new identity: the old one is deleted, the new inserted.
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_sessions_version" SET end_transaction_id = tx
             WHERE "id" = OLD."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_sessions_version" AS v ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (OLD."id", OLD."title", OLD."subtitle", OLD."short_abstract", OLD."long_abstract", OLD."comments", OLD."language", OLD."level", OLD."starts_at", OLD."ends_at", OLD."track_id", OLD."microlocation_id", OLD."session_type_id", OLD."event_id", OLD."creator_id", OLD."slides_url", OLD."video_url", OLD."audio_url", OLD."signup_url", OLD."state", OLD."created_at", OLD."submitted_at", OLD."submission_modifier", OLD."is_mail_sent", OLD."send_email", OLD."is_locked", OLD."complex_field_values", OLD."deleted_at", tx, NULL, 2)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_sessions_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_sessions_version" AS v ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."title", NEW."subtitle", NEW."short_abstract", NEW."long_abstract", NEW."comments", NEW."language", NEW."level", NEW."starts_at", NEW."ends_at", NEW."track_id", NEW."microlocation_id", NEW."session_type_id", NEW."event_id", NEW."creator_id", NEW."slides_url", NEW."video_url", NEW."audio_url", NEW."signup_url", NEW."state", NEW."created_at", NEW."submitted_at", NEW."submission_modifier", NEW."is_mail_sent", NEW."send_email", NEW."is_locked", NEW."complex_field_values", NEW."deleted_at", tx, NULL, 0)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    ELSE
        
        WITH closed AS (
            UPDATE "audittrail"."audittrail_sessions_version" SET end_transaction_id = tx
             WHERE "id" = NEW."id" AND end_transaction_id IS NULL AND transaction_id <> tx)
        INSERT INTO "audittrail"."audittrail_sessions_version" AS v ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
        VALUES (NEW."id", NEW."title", NEW."subtitle", NEW."short_abstract", NEW."long_abstract", NEW."comments", NEW."language", NEW."level", NEW."starts_at", NEW."ends_at", NEW."track_id", NEW."microlocation_id", NEW."session_type_id", NEW."event_id", NEW."creator_id", NEW."slides_url", NEW."video_url", NEW."audio_url", NEW."signup_url", NEW."state", NEW."created_at", NEW."submitted_at", NEW."submission_modifier", NEW."is_mail_sent", NEW."send_email", NEW."is_locked", NEW."complex_field_values", NEW."deleted_at", tx, NULL, 1)
        ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    END IF;
    RETURN NULL;
END
$$
;
CREATE OR REPLACE FUNCTION "audittrail"."audittrail_sessions_truncate"() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, "audittrail", pg_temp SET jit = off AS $$
DECLARE
    tx bigint;
    ts timestamptz;
BEGIN
    -- audittrail-capture sessions 5fb402654ce0ff61
    IF NOT EXISTS (SELECT 1 FROM "public"."sessions") THEN
        RETURN NULL;
    END IF;
    SELECT t.tx, t.issued_at INTO tx, ts FROM "audittrail"."audittrail_tx"() t;
    WITH closed AS (
        UPDATE "audittrail"."audittrail_sessions_version" v SET end_transaction_id = tx FROM "public"."sessions" r
         WHERE v."id" = r."id" AND v.end_transaction_id IS NULL AND v.transaction_id <> tx)
    INSERT INTO "audittrail"."audittrail_sessions_version" AS v ("id", "title", "subtitle", "short_abstract", "long_abstract", "comments", "language", "level", "starts_at", "ends_at", "track_id", "microlocation_id", "session_type_id", "event_id", "creator_id", "slides_url", "video_url", "audio_url", "signup_url", "state", "created_at", "submitted_at", "submission_modifier", "is_mail_sent", "send_email", "is_locked", "complex_field_values", "deleted_at", transaction_id, end_transaction_id, operation_type)
    SELECT r."id", r."title", r."subtitle", r."short_abstract", r."long_abstract", r."comments", r."language", r."level", r."starts_at", r."ends_at", r."track_id", r."microlocation_id", r."session_type_id", r."event_id", r."creator_id", r."slides_url", r."video_url", r."audio_url", r."signup_url", r."state", r."created_at", r."submitted_at", r."submission_modifier", r."is_mail_sent", r."send_email", r."is_locked", r."complex_field_values", r."deleted_at", tx, NULL, 2 FROM "public"."sessions" r
    ON CONFLICT ("id", transaction_id) DO UPDATE SET "title" = EXCLUDED."title", "subtitle" = EXCLUDED."subtitle", "short_abstract" = EXCLUDED."short_abstract", "long_abstract" = EXCLUDED."long_abstract", "comments" = EXCLUDED."comments", "language" = EXCLUDED."language", "level" = EXCLUDED."level", "starts_at" = EXCLUDED."starts_at", "ends_at" = EXCLUDED."ends_at", "track_id" = EXCLUDED."track_id", "microlocation_id" = EXCLUDED."microlocation_id", "session_type_id" = EXCLUDED."session_type_id", "event_id" = EXCLUDED."event_id", "creator_id" = EXCLUDED."creator_id", "slides_url" = EXCLUDED."slides_url", "video_url" = EXCLUDED."video_url", "audio_url" = EXCLUDED."audio_url", "signup_url" = EXCLUDED."signup_url", "state" = EXCLUDED."state", "created_at" = EXCLUDED."created_at", "submitted_at" = EXCLUDED."submitted_at", "submission_modifier" = EXCLUDED."submission_modifier", "is_mail_sent" = EXCLUDED."is_mail_sent", "send_email" = EXCLUDED."send_email", "is_locked" = EXCLUDED."is_locked", "complex_field_values" = EXCLUDED."complex_field_values", "deleted_at" = EXCLUDED."deleted_at", operation_type = CASE WHEN v.operation_type = 0 AND EXCLUDED.operation_type = 1 THEN 0 ELSE EXCLUDED.operation_type END;
    RETURN NULL;
END
$$
;
CREATE OR REPLACE FUNCTION "audittrail"."audittrail_sessions_stamp"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cached text;
    issued_at timestamptz;
BEGIN
    -- audittrail-capture sessions 5fb402654ce0ff61
    IF TG_OP = 'UPDATE' AND ROW(OLD."id", OLD."title", OLD."subtitle", OLD."short_abstract", OLD."long_abstract", OLD."comments", OLD."language", OLD."level", OLD."starts_at", OLD."ends_at", OLD."track_id", OLD."microlocation_id", OLD."session_type_id", OLD."event_id", OLD."creator_id", OLD."slides_url", OLD."video_url", OLD."audio_url", OLD."signup_url", OLD."state", OLD."created_at", OLD."submitted_at", OLD."submission_modifier", OLD."is_mail_sent", OLD."send_email", OLD."is_locked", OLD."complex_field_values", OLD."deleted_at") IS NOT DISTINCT FROM ROW(NEW."id", NEW."title", NEW."subtitle", NEW."short_abstract", NEW."long_abstract", NEW."comments", NEW."language", NEW."level", NEW."starts_at", NEW."ends_at", NEW."track_id", NEW."microlocation_id", NEW."session_type_id", NEW."event_id", NEW."creator_id", NEW."slides_url", NEW."video_url", NEW."audio_url", NEW."signup_url", NEW."state", NEW."created_at", NEW."submitted_at", NEW."submission_modifier", NEW."is_mail_sent", NEW."send_email", NEW."is_locked", NEW."complex_field_values", NEW."deleted_at") THEN
        RETURN NEW;
    END IF;
    cached := current_setting('audittrail.tx', true);
    IF cached IS NOT NULL
       AND split_part(cached, '|', 1) = pg_current_xact_id_if_assigned()::text THEN
        issued_at := split_part(cached, '|', 2)::timestamptz;
    ELSE
        issued_at := statement_timestamp();
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW."last_modified_at" := greatest(OLD."last_modified_at", issued_at);
    ELSE
        NEW."last_modified_at" := issued_at;
    END IF;
    RETURN NEW;
END
$$
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_sessions_capture"() FROM PUBLIC
;
REVOKE ALL ON FUNCTION "audittrail"."audittrail_sessions_truncate"() FROM PUBLIC
;
DROP TRIGGER IF EXISTS audittrail_capture_insert ON "public"."sessions"
;
DROP TRIGGER IF EXISTS audittrail_capture_update ON "public"."sessions"
;
DROP TRIGGER IF EXISTS audittrail_capture_delete ON "public"."sessions"
;
DROP TRIGGER IF EXISTS audittrail_capture_truncate ON "public"."sessions"
;
DROP TRIGGER IF EXISTS audittrail_stamp_insert ON "public"."sessions"
;
DROP TRIGGER IF EXISTS audittrail_stamp_update ON "public"."sessions"
;
CREATE TRIGGER audittrail_capture_insert AFTER INSERT ON "public"."sessions" REFERENCING NEW TABLE AS audittrail_new_rows FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_sessions_capture"()
;
CREATE TRIGGER audittrail_capture_update AFTER UPDATE ON "public"."sessions" REFERENCING OLD TABLE AS audittrail_old_rows NEW TABLE AS audittrail_new_rows FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_sessions_capture"()
;
CREATE TRIGGER audittrail_capture_delete AFTER DELETE ON "public"."sessions" REFERENCING OLD TABLE AS audittrail_old_rows FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_sessions_capture"()
;
CREATE TRIGGER audittrail_capture_truncate BEFORE TRUNCATE ON "public"."sessions" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_sessions_truncate"()
;
CREATE TRIGGER audittrail_stamp_insert BEFORE INSERT ON "public"."sessions" FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_sessions_stamp"()
;
CREATE TRIGGER audittrail_stamp_update BEFORE UPDATE ON "public"."sessions" FOR EACH ROW EXECUTE FUNCTION "audittrail"."audittrail_sessions_stamp"()
;
DROP TRIGGER IF EXISTS audittrail_append_only_update ON "audittrail"."audittrail_sessions_version"
;
DROP TRIGGER IF EXISTS audittrail_append_only_delete ON "audittrail"."audittrail_sessions_version"
;
DROP TRIGGER IF EXISTS audittrail_append_only_truncate ON "audittrail"."audittrail_sessions_version"
;
CREATE TRIGGER audittrail_append_only_update BEFORE UPDATE ON "audittrail"."audittrail_sessions_version" FOR EACH ROW WHEN (NOT coalesce((OLD.transaction_id = pg_current_xact_id()::text::bigint AND NEW.transaction_id = OLD.transaction_id) OR (OLD.end_transaction_id IS NULL AND NEW.end_transaction_id = pg_current_xact_id()::text::bigint AND ROW(OLD."id", OLD."title", OLD."subtitle", OLD."short_abstract", OLD."long_abstract", OLD."comments", OLD."language", OLD."level", OLD."starts_at", OLD."ends_at", OLD."track_id", OLD."microlocation_id", OLD."session_type_id", OLD."event_id", OLD."creator_id", OLD."slides_url", OLD."video_url", OLD."audio_url", OLD."signup_url", OLD."state", OLD."created_at", OLD."submitted_at", OLD."submission_modifier", OLD."is_mail_sent", OLD."send_email", OLD."is_locked", OLD."complex_field_values", OLD."deleted_at", OLD."transaction_id", OLD."operation_type") IS NOT DISTINCT FROM ROW(NEW."id", NEW."title", NEW."subtitle", NEW."short_abstract", NEW."long_abstract", NEW."comments", NEW."language", NEW."level", NEW."starts_at", NEW."ends_at", NEW."track_id", NEW."microlocation_id", NEW."session_type_id", NEW."event_id", NEW."creator_id", NEW."slides_url", NEW."video_url", NEW."audio_url", NEW."signup_url", NEW."state", NEW."created_at", NEW."submitted_at", NEW."submission_modifier", NEW."is_mail_sent", NEW."send_email", NEW."is_locked", NEW."complex_field_values", NEW."deleted_at", NEW."transaction_id", NEW."operation_type")), false)) EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
;
CREATE TRIGGER audittrail_append_only_delete BEFORE DELETE ON "audittrail"."audittrail_sessions_version" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
;
CREATE TRIGGER audittrail_append_only_truncate BEFORE TRUNCATE ON "audittrail"."audittrail_sessions_version" FOR EACH STATEMENT EXECUTE FUNCTION "audittrail"."audittrail_refuse_history_change"()
