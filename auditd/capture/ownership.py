"""PostgreSQL: the audit objects capture creates, and who owns them.

Capture functions run with their owner's rights (``SECURITY DEFINER``), so
their owner decides what capture may do. The audit owner is whoever owns
the transaction table: after ``audittrail roles`` the ``NOLOGIN`` owner
role, before it the role that migrated the database. Functions and version
tables created later (a migration regenerating the triggers, ``adopt``)
belong to the role that created them; :func:`ownership_ddl` hands them to
the audit owner.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from auditd.capture import append_only, postgresql, triggers
from auditd.capture.attribution.postgresql import set_context_signature
from auditd.capture.claimed_context import mac_signature
from auditd.models.audit import TRANSACTION, key_table
from auditd.models.namespace import audit_schema, qualify
from auditd.registry import VersionedTable, quote


def shared_functions(schema: str | None) -> list[str]:
    """The functions every table's capture shares, in ``schema``, as regprocedure text."""
    return [
        f"{qualify(schema, postgresql.TRANSACTION_FUNCTION_NAME)}()",
        mac_signature(schema),
        set_context_signature(schema),
        f"{qualify(schema, append_only.GUARD_FUNCTION_NAME)}()",
        append_only.retention_function_signature(schema),
    ]


def table_functions(entry: VersionedTable) -> list[str]:
    """The functions generated for ``entry``'s table, as regprocedure text."""
    roles = dict.fromkeys(t.role for t in triggers.POSTGRESQL if t.applies_to(entry))
    return [f"{postgresql.function_name(entry, role)}()" for role in roles]


def audit_owner(connection: sa.Connection) -> str | None:
    """The role owning the transaction table (None before it exists)."""
    table = qualify(audit_schema(connection), str(TRANSACTION.name))
    owner = connection.scalar(
        sa.text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(:t)"),
        {"t": table},
    )
    return None if owner is None else str(owner)


def ownership_ddl(connection: sa.Connection, entries: Iterable[VersionedTable]) -> list[str]:
    """ALTER ... OWNER statements giving the audit owner the shared functions,
    the signing key and ``entries``' functions and version tables that
    another role owns.

    Empty when the connection's role may not act as the audit owner (only a
    member of it, or a superuser, may give it objects): ``audittrail roles``
    run by such a role transfers them.
    """
    owner = audit_owner(connection)
    if owner is None or not connection.scalar(
        sa.text("SELECT pg_has_role(current_user, :owner, 'MEMBER')"), {"owner": owner}
    ):
        return []
    entries = tuple(entries)
    schema = audit_schema(connection)
    functions = [*shared_functions(schema), *(f for e in entries for f in table_functions(e))]
    statements = [
        f"ALTER FUNCTION {function} OWNER TO {quote(owner)}"
        for function in functions
        if connection.scalar(
            sa.text(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = to_regprocedure(:f)"
            ),
            {"f": function},
        )
        not in (None, owner)
    ]
    # The signing key too: the context function reads it as the owner.
    tables = [key_table(schema), *(e.qualified_version_table for e in entries)]
    statements += [
        f"ALTER TABLE {table} OWNER TO {quote(owner)}"
        for table in tables
        if connection.scalar(
            sa.text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(:t)"),
            {"t": table},
        )
        not in (None, owner)
    ]
    return statements
