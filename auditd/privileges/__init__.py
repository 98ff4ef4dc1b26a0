"""Least privilege on PostgreSQL: the role layout and the command that sets it up.

:mod:`.layout` says which roles exist and what each may do;
:mod:`.roles` plans and applies it (``audittrail roles``). Capture itself
runs as the audit owner (:mod:`auditd.capture`), so application roles need
no privilege on any audit object. SQLite has no roles.
"""

from auditd.privileges.layout import DEFAULT_OWNER_ROLE, RoleLayout
from auditd.privileges.roles import RolesResult, apply, plan

__all__ = ["DEFAULT_OWNER_ROLE", "RoleLayout", "RolesResult", "apply", "plan"]
