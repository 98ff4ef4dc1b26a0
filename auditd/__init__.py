"""auditd: a change-tracking audit daemon for Open Event databases.

Every change to a versioned row is recorded by the database itself, and
``last_modified_at`` is derived from that history. The stable API for
scripts is re-exported here; the command line is ``audittrail``.

The re-exports are resolved on first use, so that importing the package
costs nothing: ``audittrail`` installs its signal handlers from inside it
before importing SQLAlchemy (:mod:`auditd.cli.entry`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditd.capture.attribution import AuditContext, audit_context
    from auditd.errors import AuditdError

__all__ = ["AuditContext", "AuditdError", "audit_context"]
__version__ = "0.1.0"

_EXPORTS = {
    "AuditContext": "auditd.capture.attribution",
    "audit_context": "auditd.capture.attribution",
    "AuditdError": "auditd.errors",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'auditd' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
