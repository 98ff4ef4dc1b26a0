"""The role layout: who may do what with the audit objects and the live tables.

Four kinds of role, on PostgreSQL:

* the **audit owner** (``NOLOGIN``): owns the audit tables, the version
  tables, the versioned live tables and the capture functions. Capture runs
  with its rights (``SECURITY DEFINER``); nobody logs in as it.
* **application writers**: SELECT, INSERT, UPDATE, DELETE on the versioned
  live tables and their sequences, and EXECUTE on
  ``audittrail_set_context`` (they are trusted to claim who is writing).
  Nothing on any audit table. Not owners, so they cannot disable triggers;
  not superusers, so they cannot set ``session_replication_role``.
* the **daemon**: reads history and the live tables, updates only the stamp
  columns, reads and writes its bookkeeping tables, and publishes its own
  context (origin ``job``).
* a **reader** for operators and reporting scripts: SELECT on history, the
  live tables and the bookkeeping tables, nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditd.errors import UsageError

DEFAULT_OWNER_ROLE = "audittrail_owner"

# Unquoted PostgreSQL identifiers in lower case: what a role name typed on a
# command line usually means, and safe to put into SQL without quoting rules
# the reader has to check.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


def _check_name(kind: str, name: str) -> str:
    if not _ROLE_NAME.fullmatch(name):
        raise UsageError(
            f"{kind} {name!r} is not a role name this command accepts",
            "lower-case letters, digits, _ and $, starting with a letter or _, at most 63",
        )
    if name.startswith("pg_"):
        raise UsageError(f"{kind} {name!r} is reserved by PostgreSQL (pg_ prefix)")
    return name


@dataclass(frozen=True, kw_only=True)
class RoleLayout:
    """The roles ``audittrail roles`` sets up. Raises :class:`UsageError` for
    a name that is not a plain identifier, or a role given two parts."""

    owner: str = DEFAULT_OWNER_ROLE
    app_roles: tuple[str, ...]
    reader: str
    daemon: str | None = None

    def __post_init__(self) -> None:
        if not self.app_roles:
            raise UsageError("at least one application role is needed")
        _check_name("owner role", self.owner)
        for role in self.app_roles:
            _check_name("application role", role)
        _check_name("reader role", self.reader)
        if self.daemon is not None:
            _check_name("daemon role", self.daemon)
        named = [self.owner, *self.app_roles, self.reader, *([self.daemon] if self.daemon else [])]
        twice = sorted({name for name in named if named.count(name) > 1})
        if twice:
            raise UsageError(
                f"role {', '.join(twice)} is given more than one part",
                "owner, application, reader and daemon roles must all differ",
            )

    @property
    def login_roles(self) -> tuple[str, ...]:
        """Every role but the owner: they must exist already."""
        return (*self.app_roles, self.reader, *((self.daemon,) if self.daemon else ()))
