"""Attribution: who wrote, from where and why, handed to the capture triggers.

ORM writes made through an :class:`AuditSession` inside
``with audit_context(actor=..., origin=..., reason=...)`` are recorded with
that context; every other writer is recorded as origin ``sql``.
"""

from auditd.capture.attribution.context import (
    ORIGINS,
    AuditContext,
    audit_context,
    current_context,
)
from auditd.capture.attribution.session import (
    AuditSession,
    publish_context,
    recorded_transaction,
    session_factory,
)

__all__ = [
    "ORIGINS",
    "AuditContext",
    "AuditSession",
    "audit_context",
    "current_context",
    "publish_context",
    "recorded_transaction",
    "session_factory",
]
