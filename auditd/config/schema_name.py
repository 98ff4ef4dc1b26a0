"""The PostgreSQL schema of the audit objects: its default and what it may be."""

from __future__ import annotations

import re

from auditd.errors import ConfigError

# Also the placeholder schema the models name for audit tables (see
# auditd.models.namespace): equal to the default, so that tools reading the
# models without our engine see the default layout.
DEFAULT_AUDIT_SCHEMA = "audittrail"

# An identifier auditd may create and name unquoted: lower case, at most 63
# bytes (PostgreSQL's limit), not a schema PostgreSQL reserves.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_schema_name(key: str, name: str) -> str:
    """``name`` if it may name the audit schema; :class:`ConfigError` saying why not."""
    if (
        not _IDENTIFIER.fullmatch(name)
        or name.startswith("pg_")
        or name
        in (
            "information_schema",
            "public",
        )
    ):
        raise ConfigError(
            f"{key} must be a lower-case PostgreSQL identifier of its own, got: {name!r}",
            "letters, digits and _, at most 63; not public, information_schema or pg_*",
        )
    return name
