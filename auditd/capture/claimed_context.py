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
    set_context_signature,
)
from auditd.capture.generator import shared_marker
from auditd.capture.postgresql import function_security
from auditd.models.audit import key_table
from auditd.registry import VersionedTable, qualify


def mac_signature(schema: str | None) -> str:
    """The signing function in ``schema``, as regprocedure text."""
    return f"{qualify(schema, CONTEXT_MAC_FUNCTION_NAME)}(bigint, text, text, text, text)"


# PL/pgSQL rather than SQL: its body is not checked against the catalog when
# it is created, so the migrations before the key table existed can install it.
_MAC_BODY = """
DECLARE
    signing_key bytea;
BEGIN
    -- @marker@
    -- Below the revision that made the key (a downgrade keeps this build's
    -- capture): no key, so no context is trusted, and writes go on.
    IF to_regclass('@key_table@') IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT k.key INTO signing_key FROM @key_table@ k WHERE k.slot = 1;
    IF signing_key IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN encode(sha256(signing_key || sha256(signing_key || convert_to(
        json_build_array(tx, actor, origin, reason, remote_addr)::text, 'UTF8'))), 'hex');
END
"""


def _mac_function(entry: VersionedTable) -> str:
    # Runs as the owner, so it is never granted: only the definer functions
    # (owned by the owner) call it.
    body = _MAC_BODY.replace("@key_table@", key_table(entry.audit_schema))
    return (
        f"CREATE OR REPLACE FUNCTION {qualify(entry.audit_schema, CONTEXT_MAC_FUNCTION_NAME)}"
        "(tx bigint, actor text, origin text, reason text, remote_addr text)\n"
        f"RETURNS text LANGUAGE plpgsql STABLE {function_security(entry, definer=False)} AS $$"
        + body.replace("@marker@", shared_marker(body))
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
        set_config('{CONTEXT_MAC_SETTING}', @mac_function@(tx,
            nullif(actor, ''), origin, nullif(reason, ''), nullif(remote_addr, '')), true);
END
"""


def _set_context_function(entry: VersionedTable) -> str:
    body = _SET_CONTEXT_BODY.replace(
        "@mac_function@", qualify(entry.audit_schema, CONTEXT_MAC_FUNCTION_NAME)
    )
    return (
        f"CREATE OR REPLACE FUNCTION {qualify(entry.audit_schema, SET_CONTEXT_FUNCTION_NAME)}"
        "(actor text, origin text, reason text, remote_addr text)\nRETURNS void"
        f" LANGUAGE plpgsql {function_security(entry, definer=True)} AS $$"
        + body.replace("@marker@", shared_marker(body))
        + "$$"
    )


def context_ddl(entry: VersionedTable) -> list[str]:
    """DDL creating the signing and the context function of ``entry``'s
    layout; nobody may execute them until granted."""
    return [
        _mac_function(entry),
        f"REVOKE ALL ON FUNCTION {mac_signature(entry.audit_schema)} FROM PUBLIC",
        _set_context_function(entry),
        f"REVOKE ALL ON FUNCTION {set_context_signature(entry.audit_schema)} FROM PUBLIC",
    ]


def drop_ddl(schema: str | None) -> list[str]:
    """DDL removing the context and signing functions of ``schema``."""
    return [
        f"DROP FUNCTION IF EXISTS {set_context_signature(schema)}",
        f"DROP FUNCTION IF EXISTS {mac_signature(schema)}",
    ]
