"""PostgreSQL: a claimed context that only the granted roles can publish.

Any session may set any ``audittrail.*`` setting, so settings alone cannot
tell the application's own writes from a raw-SQL writer claiming to be
``alice``. ``audittrail_set_context(actor, origin, reason, remote_addr)``
runs as the audit owner and stores the context in transaction-local
settings together with a signature: a keyed hash over the transaction's
id and the four values, under the key in ``audittrail_context_key`` that
only the owner can read. The transaction function recomputes the signature
when it creates the transaction row and takes the claimed values only when
they match; otherwise the row says origin ``sql`` and the session's role.

Why this design: it writes nothing (a table of published contexts would
leave a row behind for every transaction that published and then changed
nothing, as every stamp repair does), costs one hash when a context is
published and one when its transaction row is created, and cannot be
replayed: the signature names the transaction, whose settings vanish at
its end, and a session sees only its own settings. The hash is nested
(``sha256(key || sha256(key || message))``, HMAC's shape) so that a known
signature cannot be extended into another one; the message is a JSON array,
so no two contexts serialise alike.

Who may call the context function is a grant (``audittrail roles``); its
execution is revoked from PUBLIC when it is created.
"""

from __future__ import annotations

from auditd.capture.attribution.postgresql import (
    ACTOR_SETTING,
    CONTEXT_MAC_FUNCTION_NAME,
    CONTEXT_MAC_SETTING,
    ORIGIN_SETTING,
    REASON_SETTING,
    REMOTE_ADDR_SETTING,
    SET_CONTEXT_FUNCTION_NAME,
    SET_CONTEXT_SIGNATURE,
)
from auditd.capture.generator import shared_marker
from auditd.capture.postgresql import function_security
from auditd.models.audit import ContextKey
from auditd.registry import quote

_KEY_TABLE = quote(ContextKey.__tablename__)
MAC_SIGNATURE = f"{CONTEXT_MAC_FUNCTION_NAME}(bigint, text, text, text, text)"

# PL/pgSQL rather than SQL: its body is not checked against the catalog when
# it is created, so the migrations before the key table existed can install it.
_MAC_BODY = f"""
DECLARE
    signing_key bytea;
BEGIN
    -- @marker@
    SELECT k.key INTO signing_key FROM {_KEY_TABLE} k WHERE k.slot = 1;
    IF signing_key IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN encode(sha256(signing_key || sha256(signing_key || convert_to(
        json_build_array(tx, actor, origin, reason, remote_addr)::text, 'UTF8'))), 'hex');
END
"""

# Runs as the owner, so it is never granted: only the definer functions
# (owned by the owner) call it.
MAC_FUNCTION = (
    f"CREATE OR REPLACE FUNCTION {CONTEXT_MAC_FUNCTION_NAME}(tx bigint, actor text, origin text,"
    f" reason text, remote_addr text)\nRETURNS text LANGUAGE plpgsql STABLE"
    f" {function_security(definer=False)} AS $$"
    + _MAC_BODY.replace("@marker@", shared_marker(_MAC_BODY))
    + "$$"
)

_SET_CONTEXT_BODY = f"""
DECLARE
    tx bigint := pg_current_xact_id()::text::bigint;
BEGIN
    -- @marker@
    IF origin IS NULL OR origin = '' THEN
        RAISE EXCEPTION 'audittrail: a published context needs an origin';
    END IF;
    PERFORM set_config('{ACTOR_SETTING}', coalesce(actor, ''), true),
        set_config('{ORIGIN_SETTING}', origin, true),
        set_config('{REASON_SETTING}', coalesce(reason, ''), true),
        set_config('{REMOTE_ADDR_SETTING}', coalesce(remote_addr, ''), true),
        set_config('{CONTEXT_MAC_SETTING}', {CONTEXT_MAC_FUNCTION_NAME}(tx,
            nullif(actor, ''), origin, nullif(reason, ''), nullif(remote_addr, '')), true);
END
"""

SET_CONTEXT_FUNCTION = (
    f"CREATE OR REPLACE FUNCTION {SET_CONTEXT_FUNCTION_NAME}(actor text, origin text,"
    f" reason text, remote_addr text)\nRETURNS void LANGUAGE plpgsql"
    f" {function_security(definer=True)} AS $$"
    + _SET_CONTEXT_BODY.replace("@marker@", shared_marker(_SET_CONTEXT_BODY))
    + "$$"
)

CONTEXT_DDL = (
    MAC_FUNCTION,
    f"REVOKE ALL ON FUNCTION {MAC_SIGNATURE} FROM PUBLIC",
    SET_CONTEXT_FUNCTION,
    f"REVOKE ALL ON FUNCTION {SET_CONTEXT_SIGNATURE} FROM PUBLIC",
)

# A fresh key: two version-4 UUIDs, 244 bits from the server's strong random
# source (gen_random_uuid is built in since PostgreSQL 13).
CREATE_KEY = (
    f"INSERT INTO {_KEY_TABLE} (slot, key) VALUES (1, decode(replace("
    "gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))"
    " ON CONFLICT (slot) DO NOTHING"
)

DROP_DDL = (
    f"DROP FUNCTION IF EXISTS {SET_CONTEXT_SIGNATURE}",
    f"DROP FUNCTION IF EXISTS {MAC_SIGNATURE}",
)
