"""auditd: a change-tracking audit daemon for Open Event databases.

Every change to a versioned row is recorded by the database itself, and
``last_modified_at`` is derived from that history. The stable API for
scripts is re-exported here; the command line is ``audittrail``.
"""

from auditd.capture.attribution import AuditContext, audit_context
from auditd.errors import AuditdError

__all__ = ["AuditContext", "AuditdError", "audit_context"]
__version__ = "0.1.0"
