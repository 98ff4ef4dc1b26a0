CREATE OR REPLACE FUNCTION "audittrail"."audittrail_tx"(OUT tx bigint, OUT issued_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    cached text := current_setting('audittrail.tx', true);
    published_origin text;
BEGIN
    -- audittrail-capture shared a76c2cae06490a2c
    tx := pg_current_xact_id()::text::bigint;
    IF cached IS NOT NULL AND split_part(cached, '|', 1) = tx::text THEN
        issued_at := split_part(cached, '|', 2)::timestamptz;
        RETURN;
    END IF;
    published_origin := nullif(current_setting('audittrail.origin', true), '');
    INSERT INTO "audittrail"."audittrail_transaction" AS t
        (id, issued_at, actor, origin, reason, remote_addr, application)
    VALUES (
        tx,
        statement_timestamp(),
        CASE WHEN published_origin IS NULL THEN current_user::text
             ELSE nullif(current_setting('audittrail.actor', true), '') END,
        coalesce(published_origin, 'sql'),
        nullif(current_setting('audittrail.reason', true), ''),
        CASE WHEN published_origin IS NULL THEN host(inet_client_addr())
             ELSE nullif(current_setting('audittrail.remote_addr', true), '') END,
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
