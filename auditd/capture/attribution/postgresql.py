"""The PostgreSQL side of attribution: transaction-local settings.

An :class:`~auditd.capture.attribution.session.AuditSession` publishes its
context in settings local to the database transaction (``set_config(...,
true)``), which the capture functions read when they create the
transaction row. ``audittrail.tx`` caches that row's id and time for the
rest of the transaction. Settings are reverted on rollback, also of a
savepoint, together with the rows they describe.
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.models.audit import TRANSACTION

TX_SETTING = "audittrail.tx"
ACTOR_SETTING = "audittrail.actor"
ORIGIN_SETTING = "audittrail.origin"
REASON_SETTING = "audittrail.reason"
REMOTE_ADDR_SETTING = "audittrail.remote_addr"

PUBLISH = sa.text(
    f"SELECT set_config('{ACTOR_SETTING}', coalesce(:actor, ''), true),"
    f" set_config('{ORIGIN_SETTING}', :origin, true),"
    f" set_config('{REASON_SETTING}', coalesce(:reason, ''), true),"
    f" set_config('{REMOTE_ADDR_SETTING}', coalesce(:remote_addr, ''), true)"
)

# The transaction row of the current transaction, once capture wrote it: its
# id is the transaction's xid.
CURRENT_TRANSACTION = sa.select(TRANSACTION.c.id).where(
    TRANSACTION.c.id == sa.text("pg_current_xact_id_if_assigned()::text::bigint")
)


def published(name: str) -> str:
    """SQL reading a published setting, NULL when unset or empty."""
    return f"nullif(current_setting('{name}', true), '')"
