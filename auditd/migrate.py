"""Schema migrations: Alembic driven from Python, on our own engine.

The migration scripts live in the top-level ``migrations/`` folder, which is
installed as the ``auditd._migrations`` package.

Our revision is recorded in ``audittrail_alembic_version``, in the audit
schema on PostgreSQL: never in ``alembic_version``, which an adopted Open
Event Server database keeps for its own migrations. Databases of revisions
before 0010 kept it in the default schema (and the earliest in
``alembic_version``); :func:`upgrade` moves it, and a downgrade below 0010
puts it back where those builds look for it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from auditd.errors import SchemaMismatchError, UsageError
from auditd.models import Base
from auditd.models.audit import postgresql_attribution_ddl
from auditd.models.namespace import AUDIT_SCHEMA, PREFIX, audit_schema, default_schema, qualify

VERSION_TABLE = f"{PREFIX}alembic_version"
# Alembic's default version table, where the first builds kept our revision
# (ids "0001" to "0009"), and where Open Event keeps its own.
_ALEMBIC_DEFAULT = "alembic_version"
_OUR_EARLY_REVISIONS = frozenset(f"{n:04d}" for n in range(1, 10))
# The revision that moved every audit object into the audit namespace.
NAMESPACE_REVISION = "0010"


def _script_location() -> str:
    return str(Path(str(resources.files("auditd._migrations"))))


def alembic_config(connection: sa.Connection | None = None, *, adopt: bool = False) -> Config:
    """An Alembic config pointing at our migrations, bound to ``connection``.

    ``adopt`` tells the initial revision that the domain tables already exist
    (``audittrail adopt``): it then creates only the audit infrastructure.
    """
    config = Config()
    config.set_main_option("script_location", _script_location())
    config.attributes["connection"] = connection
    config.attributes["adopt"] = adopt
    return config


def head_revision() -> str:
    """The newest revision this build knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def version_table_options(connection: sa.Connection) -> dict[str, str | None]:
    """Alembic's options naming our version table on ``connection``."""
    return {"version_table": VERSION_TABLE, "version_table_schema": audit_schema(connection)}


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at, or None for an empty database
    (wherever a build of any revision recorded it)."""
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        schema = audit_schema(connection)
        if inspector.has_table(VERSION_TABLE, schema=schema):
            opts = version_table_options(connection)
        elif schema is not None and inspector.has_table(VERSION_TABLE):
            opts = {"version_table": VERSION_TABLE}
        elif _early_revision(connection) is not None:
            opts = {"version_table": _ALEMBIC_DEFAULT}
        else:
            return None
        return MigrationContext.configure(connection, opts=opts).get_current_revision()


def _early_revision(connection: sa.Connection) -> str | None:
    """Our revision in ``alembic_version``, where the first builds recorded it
    (an Open Event revision there is not ours)."""
    if not sa.inspect(connection).has_table(_ALEMBIC_DEFAULT):
        return None
    revisions = connection.scalars(sa.text(f"SELECT version_num FROM {_ALEMBIC_DEFAULT}")).all()
    return revisions[0] if len(revisions) == 1 and revisions[0] in _OUR_EARLY_REVISIONS else None


def _prepare_namespace(connection: sa.Connection) -> None:
    """Create the audit schema (PostgreSQL) and bring our version table into
    it from where earlier builds kept it."""
    schema = audit_schema(connection)
    inspector = sa.inspect(connection)
    if schema is not None and schema not in inspector.get_schema_names():
        connection.exec_driver_sql(f"CREATE SCHEMA {qualify(None, schema)}")
    if inspector.has_table(VERSION_TABLE, schema=schema):
        return
    target = qualify(None, VERSION_TABLE)
    if schema is not None and inspector.has_table(VERSION_TABLE):
        connection.exec_driver_sql(f"ALTER TABLE {target} SET SCHEMA {qualify(None, schema)}")
    elif _early_revision(connection) is not None:
        connection.exec_driver_sql(f"ALTER TABLE {_ALEMBIC_DEFAULT} RENAME TO {target}")
        if schema is not None:
            connection.exec_driver_sql(f"ALTER TABLE {target} SET SCHEMA {qualify(None, schema)}")


def _leave_namespace(connection: sa.Connection) -> None:
    """After a downgrade below :data:`NAMESPACE_REVISION` (PostgreSQL): the
    version table back in the default schema, where those builds look, and
    the audit schema dropped if nothing else is left in it."""
    schema = audit_schema(connection)
    if schema is None or not sa.inspect(connection).has_table(VERSION_TABLE, schema=schema):
        return
    default = qualify(None, str(default_schema(connection)))
    connection.exec_driver_sql(f"ALTER TABLE {qualify(schema, VERSION_TABLE)} SET SCHEMA {default}")
    left = connection.scalar(
        sa.text(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid)"
            " + (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid)"
            " FROM pg_namespace n WHERE n.nspname = :schema"
        ),
        {"schema": schema},
    )
    if left == 0:
        connection.exec_driver_sql(f"DROP SCHEMA {qualify(None, schema)}")


def _install_at_head(connection: sa.Connection) -> None:
    """``audittrail adopt`` on a database without our revision: the audit
    tables of the head revision, made from the models (the migrations build
    exactly these, a test holds them equal), and the head recorded. The
    earlier revisions' layout would collide with an Open Event database's
    own ``transaction`` table."""
    audit = [
        table
        for table in Base.metadata.sorted_tables
        if table.schema == AUDIT_SCHEMA and not table.name.endswith("_version")
    ]
    Base.metadata.create_all(connection, tables=audit)
    if connection.dialect.name == "postgresql":
        for statement in postgresql_attribution_ddl(audit_schema(connection)):
            connection.exec_driver_sql(statement)
    command.stamp(alembic_config(connection), "head")


def upgrade(engine: sa.Engine, revision: str = "head", *, adopt: bool = False) -> str | None:
    """Upgrade the database to ``revision`` (default: head); returns the new revision."""
    _check_revision(revision)
    current = current_revision(engine)
    if _position(revision) < _position(current):
        raise UsageError(
            f"the database is at revision {current}, newer than {revision}",
            f"to go back, downgrade to revision {revision}",
        )
    with engine.begin() as connection:
        if current is None and not adopt:
            _refuse_unmanaged_tables(connection)
        _prepare_namespace(connection)
        if current is None and adopt and revision == "head":
            _install_at_head(connection)
        else:
            command.upgrade(alembic_config(connection, adopt=adopt), revision)
    return current_revision(engine)


def _domain_tables(connection: sa.Connection) -> list[str]:
    """The tables of the models' domain (an Open Event Server's) this database has."""
    return sorted(set(sa.inspect(connection).get_table_names()) & set(Base.metadata.tables))


def _refuse_unmanaged_tables(connection: sa.Connection) -> None:
    """A database without our revision (the caller checks) that already has our tables (an Open
    Event Server database) is adopted, not migrated: creating them would fail
    half-way with "table exists"."""
    existing = _domain_tables(connection)
    if existing:
        raise SchemaMismatchError(
            f"the database already has tables this schema creates: {', '.join(existing)}",
            "run `audittrail adopt` to put an existing database under audit",
        )


def downgrade(engine: sa.Engine, revision: str) -> str | None:
    """Downgrade to ``revision`` (``base`` removes every table); returns the new revision."""
    _check_revision(revision)
    current = current_revision(engine)
    if revision == "head" or _position(revision) > _position(current):
        raise UsageError(
            f"cannot downgrade from revision {current or 'none (empty database)'} to {revision}",
            "give an older revision, e.g. base",
        )
    with engine.begin() as connection:
        _prepare_namespace(connection)
        command.downgrade(alembic_config(connection), revision)
        if _position(revision) < _position(NAMESPACE_REVISION):
            _leave_namespace(connection)
    return current_revision(engine)


def _position(revision: str | None) -> int:
    """Where ``revision`` stands in the (linear) history: base and an empty
    database are -1, head is the newest."""
    order = [rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    order.reverse()
    if revision in (None, "base"):
        return -1
    return len(order) - 1 if revision == "head" else order.index(revision)


def _check_revision(revision: str) -> None:
    if revision in ("head", "base"):
        return
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if revision not in known:
        raise UsageError(
            f"unknown revision {revision!r}", f"known: head, base, {', '.join(sorted(known))}"
        )


def require_head(engine: sa.Engine) -> None:
    """Raise :class:`SchemaMismatchError` unless the database is at our head
    revision; its hint says to adopt a database that has tables of its own
    but no revision of ours (an Open Event Server's), to migrate otherwise."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        with engine.connect() as connection:
            existing = _domain_tables(connection)
        if existing:
            raise SchemaMismatchError(
                f"this database is not under audit yet: it has tables of its own"
                f" ({', '.join(existing)}) and no audittrail schema",
                "run `audittrail adopt` to put it under audit",
            )
    if current != head:
        raise SchemaMismatchError(
            f"database schema is at revision {current or 'none (empty database)'}, "
            f"this build needs {head}",
            "run `audittrail migrate`",
        )
