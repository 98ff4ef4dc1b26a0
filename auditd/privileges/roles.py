"""``audittrail roles``: create or check the role layout, idempotently.

:func:`plan` reads the catalog and returns the SQL that brings the database
to the layout of :mod:`.layout`; :func:`apply` runs it in one transaction
(or, for a dry run, only returns it). Running it again plans only the
grants and revokes, which change nothing; ownership is transferred only
where another role owns an object.

It must run as a superuser, or as the database owner with ``CREATEROLE``
(to create the owner role) who may act as the owner role (it is granted
membership when it is not a member).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from auditd import db, migrate, registry
from auditd.capture import append_only, ownership
from auditd.capture.attribution.postgresql import set_context_signature
from auditd.errors import DatabaseAccessError, UsageError, first_line
from auditd.models import (
    Adoption,
    ContextKey,
    JobRun,
    JobState,
    LedgerBlock,
    OpenTransaction,
    RegistryEntry,
    Transaction,
)
from auditd.models.namespace import audit_schema, qualify
from auditd.privileges.layout import RoleLayout
from auditd.registry import VersionedTable, quote

# The audit tables the reader and the daemon read; the key is the owner's alone.
_READABLE_AUDIT_TABLES = tuple(
    str(model.__tablename__)
    for model in (Transaction, RegistryEntry, Adoption, JobRun, JobState, LedgerBlock)
)
_PRIVATE_AUDIT_TABLES = tuple(str(model.__tablename__) for model in (ContextKey, OpenTransaction))
# The daemon's own records of job runs and the sync watermark, and the
# ledger its seal job appends to.
_BOOKKEEPING_TABLES = tuple(str(model.__tablename__) for model in (JobRun, JobState, LedgerBlock))


@dataclass(frozen=True)
class RolesResult:
    """The SQL planned (and run, unless ``dry_run``), one statement each."""

    statements: tuple[str, ...]
    dry_run: bool


def _scalar(connection: sa.Connection, sql: str, **params: object) -> object:
    return connection.scalar(sa.text(sql), params)


def _check_runner(connection: sa.Connection) -> None:
    runner = _scalar(
        connection,
        "SELECT r.rolsuper OR d.datdba = r.oid FROM pg_roles r, pg_database d"
        " WHERE r.rolname = current_user AND d.datname = current_database()",
    )
    if not runner:
        user = _scalar(connection, "SELECT current_user")
        raise DatabaseAccessError(
            f"audittrail roles must run as a superuser or the database owner (connected as {user})",
            "connect to the database as such a role",
        )


def _check_roles(connection: sa.Connection, layout: RoleLayout) -> bool:
    """Refuse roles that are missing or that would defeat the layout; return
    whether the owner role exists."""
    found = {
        name: (login, superuser)
        for name, login, superuser in connection.execute(
            sa.text(
                "SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = ANY(:names)"
            ),
            {"names": [layout.owner, *layout.login_roles]},
        )
    }
    missing = [name for name in layout.login_roles if name not in found]
    if missing:
        raise DatabaseAccessError(
            f"role {', '.join(missing)} does not exist",
            "create the application, reader and daemon roles first"
            " (CREATE ROLE name LOGIN); only the owner role is created here",
        )
    superusers = [name for name in layout.login_roles if found[name][1]]
    if superusers:
        raise DatabaseAccessError(
            f"role {', '.join(superusers)} is a superuser and bypasses every privilege",
            "use roles without SUPERUSER",
        )
    if layout.owner in found:
        login, superuser = found[layout.owner]
        if login or superuser:
            raise DatabaseAccessError(
                f"owner role {layout.owner} can log in or is a superuser",
                f"ALTER ROLE {layout.owner} NOSUPERUSER NOLOGIN, or choose another owner role",
            )
        members = [
            name
            for name in layout.login_roles
            if _scalar(connection, "SELECT pg_has_role(:r, :o, 'MEMBER')", r=name, o=layout.owner)
        ]
        if members:
            raise DatabaseAccessError(
                f"role {', '.join(members)} has the owner role's rights",
                f"REVOKE {layout.owner} FROM {', '.join(members)}",
            )
    return layout.owner in found


def _sequences(connection: sa.Connection, table: str) -> list[str]:
    rows = connection.execute(
        sa.text(
            "SELECT s.oid::regclass::text FROM pg_depend d"
            " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
            " WHERE d.refobjid = to_regclass(:t) AND d.deptype IN ('a', 'i')"
            " ORDER BY 1"
        ),
        {"t": table},
    )
    return [name for (name,) in rows]


def _owner_of(connection: sa.Connection, table: str) -> str | None:
    owner = _scalar(
        connection,
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(:t)",
        t=table,
    )
    return None if owner is None else str(owner)


def _schema_ownership(
    connection: sa.Connection, layout: RoleLayout, schema: str | None
) -> list[str]:
    """The audit schema goes to the owner role, whose functions resolve
    names in it (a schema of the application's, ``public``, stays as it is)."""
    if schema is None:
        return []
    current = _scalar(
        connection,
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :s",
        s=schema,
    )
    if current in (None, layout.owner):
        return []
    return [f"ALTER SCHEMA {quote(schema)} OWNER TO {quote(layout.owner)}"]


def _ownership(
    connection: sa.Connection, layout: RoleLayout, tables: list[str], functions: list[str]
) -> list[str]:
    owner = quote(layout.owner)
    statements = [
        f"ALTER TABLE {table} OWNER TO {owner}"
        for table in tables
        if _owner_of(connection, table) not in (None, layout.owner)
    ]
    for function in functions:
        current = _scalar(
            connection,
            "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = to_regprocedure(:f)",
            f=function,
        )
        if current not in (None, layout.owner):
            statements.append(f"ALTER FUNCTION {function} OWNER TO {owner}")
    return statements


def _grants(
    connection: sa.Connection, layout: RoleLayout, entries: list[VersionedTable]
) -> list[str]:
    schema = audit_schema(connection)
    live = [e.qualified_table for e in entries]
    history = [e.qualified_version_table for e in entries]
    audit = [
        *(qualify(schema, t) for t in (*_READABLE_AUDIT_TABLES, *_PRIVATE_AUDIT_TABLES)),
        *history,
    ]
    live_sql = ", ".join(live)
    sequences = [s for table in live for s in _sequences(connection, table)]
    everyone = ", ".join(["PUBLIC", *(quote(r) for r in layout.login_roles)])
    set_context = set_context_signature(schema)
    retention = append_only.retention_function_signature(schema)
    audit_namespace = quote(schema or "public")
    statements = [
        # Whatever was granted before: nobody but the owner keeps rights on
        # history, and the grants below are all the other roles hold.
        f"REVOKE ALL ON {', '.join(audit)} FROM {everyone}",
        f"REVOKE ALL ON {live_sql} FROM {everyone}",
        f"REVOKE ALL ON FUNCTION {set_context} FROM {everyone}",
        f"REVOKE ALL ON FUNCTION {retention} FROM {everyone}",
    ]
    writers = ", ".join(quote(r) for r in layout.app_roles)
    # USAGE on the audit schema lets a role name the context function; it
    # grants no access to any table in it.
    statements += [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {live_sql} TO {writers}",
        *(f"GRANT USAGE, SELECT ON SEQUENCE {s} TO {writers}" for s in sequences),
        f"GRANT USAGE ON SCHEMA {audit_namespace} TO {writers}",
        f"GRANT EXECUTE ON FUNCTION {set_context} TO {writers}",
    ]
    readable = ", ".join(
        (
            *live,
            *history,
            *(qualify(schema, t) for t in (*_READABLE_AUDIT_TABLES, migrate.VERSION_TABLE)),
        )
    )
    reader = quote(layout.reader)
    statements += [
        f"GRANT USAGE ON SCHEMA {audit_namespace} TO {reader}",
        f"GRANT SELECT ON {readable} TO {reader}",
    ]
    if layout.daemon is not None:
        daemon = quote(layout.daemon)
        bookkeeping = [qualify(schema, t) for t in _BOOKKEEPING_TABLES]
        statements += [
            f"GRANT USAGE ON SCHEMA {audit_namespace} TO {daemon}",
            f"GRANT SELECT ON {readable} TO {daemon}",
            *(
                f"GRANT UPDATE ({quote(e.stamp_column)}) ON {e.qualified_table} TO {daemon}"
                for e in entries
                if e.stamp_column is not None
            ),
            f"GRANT INSERT, UPDATE ON {', '.join(bookkeeping)} TO {daemon}",
            *(
                f"GRANT USAGE ON SEQUENCE {s} TO {daemon}"
                for table in bookkeeping
                for s in _sequences(connection, table)
            ),
            f"GRANT EXECUTE ON FUNCTION {set_context} TO {daemon}",
            # Retention (the prune job) with the owner's rights, through the
            # one function that deletes old history and nothing else.
            f"GRANT EXECUTE ON FUNCTION {retention} TO {daemon}",
        ]
    return statements


def plan(connection: sa.Connection, layout: RoleLayout) -> list[str]:
    """The SQL bringing the database to ``layout``, read from the catalog.

    Raises :class:`UsageError` on SQLite, :class:`DatabaseAccessError` when
    the connection's role may not do it, a role other than the owner does
    not exist, is a superuser or has the owner's rights, or the owner role
    can log in.
    """
    if connection.dialect.name != "postgresql":
        raise UsageError(
            "roles and privileges exist on PostgreSQL only",
            "on SQLite whoever can write the database file can change anything",
        )
    _check_runner(connection)
    owner_exists = _check_roles(connection, layout)
    entries = list(registry.load(connection))
    statements = [] if owner_exists else [f"CREATE ROLE {quote(layout.owner)} NOLOGIN"]
    if not _scalar(
        connection, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
    ) and not (
        owner_exists
        and _scalar(connection, "SELECT pg_has_role(current_user, :o, 'MEMBER')", o=layout.owner)
    ):
        statements.append(f"GRANT {quote(layout.owner)} TO CURRENT_USER")
    schema = audit_schema(connection)
    tables = [
        *(qualify(schema, t) for t in (*_READABLE_AUDIT_TABLES, *_PRIVATE_AUDIT_TABLES)),
        *(e.qualified_version_table for e in entries),
        *(e.qualified_table for e in entries),
    ]
    functions = [
        *ownership.shared_functions(schema),
        *(f for e in entries for f in ownership.table_functions(e)),
    ]
    statements += _schema_ownership(connection, layout, schema)
    statements += _ownership(connection, layout, tables, functions)
    statements += _grants(connection, layout, entries)
    return statements


def apply(engine: sa.Engine, layout: RoleLayout, *, dry_run: bool = False) -> RolesResult:
    """Plan the layout and, unless ``dry_run``, run it in one transaction.

    Raises what :func:`plan` raises; a statement the server refuses rolls
    everything back and raises :class:`DatabaseAccessError` with its message.
    """
    with db.write_transaction(engine) as connection:
        statements = plan(connection, layout)
        if not dry_run:
            for statement in statements:
                try:
                    with connection.begin_nested():
                        connection.exec_driver_sql(statement)
                except sa.exc.ProgrammingError as error:
                    raise DatabaseAccessError(
                        f"the server refused {statement}: {first_line(error)}",
                        "run as a superuser, or see docs/privileges.md for what it needs",
                    ) from error
    return RolesResult(tuple(statements), dry_run)
