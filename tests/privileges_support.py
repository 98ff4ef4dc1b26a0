"""Uniquely named PostgreSQL roles laid out by ``audittrail roles``, per test database.

Roles are cluster-wide: each fixture creates its own names and drops them
afterwards, with what they own and were granted in the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from auditd import privileges

AUDITTRAIL = str(Path(sys.executable).with_name("audittrail"))


@dataclass(frozen=True)
class Roles:
    """The layout's role names, and URLs of the test database as each."""

    database_url: str
    owner: str
    app: str
    reader: str
    daemon: str

    def url(self, role: str) -> str:
        return sa.make_url(self.database_url).set(username=role).render_as_string(False)

    def engine(self, role: str) -> sa.Engine:
        return sa.create_engine(self.url(role), poolclass=sa.NullPool)

    @property
    def layout(self) -> privileges.RoleLayout:
        return privileges.RoleLayout(
            owner=self.owner, app_roles=(self.app,), reader=self.reader, daemon=self.daemon
        )


def _admin(database_url: str) -> sa.Engine:
    return sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def login_roles(database_url: str, *, laid_out: bool = True) -> Iterator[Roles]:
    """Create the login roles, lay them out with ``audittrail roles`` (unless
    ``laid_out`` is False), and drop everything of theirs afterwards."""
    s = uuid.uuid4().hex[:10]
    roles = Roles(
        database_url,
        owner=f"at_owner_{s}",
        app=f"at_app_{s}",
        reader=f"at_reader_{s}",
        daemon=f"at_daemon_{s}",
    )
    admin = _admin(database_url)
    with admin.connect() as connection:
        for role in (roles.app, roles.reader, roles.daemon):
            connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        if laid_out:
            engine = sa.create_engine(database_url, poolclass=sa.NullPool)
            privileges.apply(engine, roles.layout)
            engine.dispose()
        yield roles
    finally:
        everyone = [roles.app, roles.reader, roles.daemon, roles.owner]
        with admin.connect() as connection:
            existing = [
                name
                for (name,) in connection.execute(
                    sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"),
                    {"n": everyone},
                )
            ]
            if existing:
                connection.exec_driver_sql(
                    f"REASSIGN OWNED BY {', '.join(existing)} TO CURRENT_USER"
                )
                connection.exec_driver_sql(f"DROP OWNED BY {', '.join(existing)}")
                for name in existing:
                    connection.exec_driver_sql(f"DROP ROLE {name}")
        admin.dispose()


def audittrail(
    url: str, *args: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script against ``url``, with a clean environment
    (and ``environ``)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_") and k != "COLUMNS"}
    return subprocess.run(
        [AUDITTRAIL, "--database-url", url, *args],
        env={**clean, **(environ or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
