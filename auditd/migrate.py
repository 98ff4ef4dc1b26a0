"""Schema migrations: Alembic driven from Python, on our own engine.

The migration scripts live in the top-level ``migrations/`` folder, which is
installed as the ``auditd._migrations`` package.
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

VERSION_TABLE = "audittrail_alembic_version"


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


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


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
        command.upgrade(alembic_config(connection, adopt=adopt), revision)
    return current_revision(engine)


def _refuse_unmanaged_tables(connection: sa.Connection) -> None:
    """A database without our revision (the caller checks) that already has our tables (an Open
    Event Server database) is adopted, not migrated: creating them would fail
    half-way with "table exists"."""
    existing = sorted(set(sa.inspect(connection).get_table_names()) & set(Base.metadata.tables))
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
        command.downgrade(alembic_config(connection), revision)
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
    """Raise :class:`SchemaMismatchError` unless the database is at our head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaMismatchError(
            f"database schema is at revision {current or 'none (empty database)'}, "
            f"this build needs {head}",
            "run `audittrail migrate`",
        )
