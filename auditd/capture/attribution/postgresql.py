"""The PostgreSQL side of attribution: a context function and signed settings.

An :class:`~auditd.capture.attribution.session.AuditSession` publishes its
context by calling ``audittrail_set_context(actor, origin, reason,
remote_addr)``, which only the roles granted it may call (``audittrail
roles``). The function stores the context in settings local to the database
transaction and signs them, with the transaction's id, under a key only the
audit owner can read (:mod:`auditd.capture.claimed_context`). The capture
functions read the settings when they create the transaction row and take
them only when the signature verifies: a session that sets the same
settings itself is recorded as origin ``sql`` under its own role.
``audittrail.tx`` caches the row's id and time for the stamp triggers.
Settings are reverted on rollback, also of a savepoint, together with the
rows they describe.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa

from auditd.models.audit import TRANSACTION
from auditd.models.namespace import audit_schema, qualify

TX_SETTING = "audittrail.tx"
ACTOR_SETTING = "audittrail.actor"
ORIGIN_SETTING = "audittrail.origin"
REASON_SETTING = "audittrail.reason"
REMOTE_ADDR_SETTING = "audittrail.remote_addr"
CONTEXT_MAC_SETTING = "audittrail.context_mac"

SET_CONTEXT_FUNCTION_NAME = "audittrail_set_context"
CONTEXT_MAC_FUNCTION_NAME = "audittrail_context_mac"


def set_context_signature(schema: str | None) -> str:
    """The context function in ``schema``, as regprocedure text."""
    return f"{qualify(schema, SET_CONTEXT_FUNCTION_NAME)}(text, text, text, text)"


def publish(connection: sa.Connection) -> sa.TextClause:
    """The call publishing a context, to the context function of the audit
    schema ``connection`` uses (an application's ``search_path`` does not
    name it)."""
    return publish_call(audit_schema(connection))


@lru_cache(maxsize=16)
def publish_call(schema: str | None) -> sa.TextClause:
    """The call publishing a context (``actor``, ``origin``, ``reason``,
    ``remote_addr``) to the context function of ``schema``."""
    function = qualify(schema, SET_CONTEXT_FUNCTION_NAME)
    return sa.text(f"SELECT {function}(:actor, :origin, :reason, :remote_addr)")


# The transaction row of the current transaction, once capture wrote it: its
# id is the transaction's xid.
CURRENT_TRANSACTION = sa.select(TRANSACTION.c.id).where(
    TRANSACTION.c.id == sa.text("pg_current_xact_id_if_assigned()::text::bigint")
)


def published(name: str) -> str:
    """SQL reading a published setting, NULL when unset or empty."""
    return f"nullif(current_setting('{name}', true), '')"
