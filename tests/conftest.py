"""Shared fixtures: a fresh, migrated database per test, on SQLite and PostgreSQL.

Every database test runs once per backend. PostgreSQL databases are created
from a migrated template (fast) with unique names and dropped afterwards;
SQLite databases are copies of a migrated file. PostgreSQL tests are skipped
when the server is unreachable, except under ``CI``, where that fails.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from auditd import db, migrate
from auditd.capture.attribution import AuditSession, session_factory
from auditd.config import DatabaseSettings
from auditd.logging import configure_logging

POSTGRES_ADMIN_URL = os.environ.get(
    "AUDITTRAIL_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def postgres_available() -> bool:
    try:
        with _admin_engine().connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        return False
    return True


def require_postgres() -> None:
    if postgres_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL} and CI is set")
    pytest.skip("PostgreSQL is unreachable (set CI to make this a failure)")


def postgres_url(database: str) -> str:
    return sa.make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(False)


def create_postgres_database(template: str | None = None) -> str:
    name = f"audittrail_test_{uuid.uuid4().hex[:12]}"
    clause = f" TEMPLATE {template}" if template else ""
    with _admin_engine().connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}{clause}")
    return name


def drop_postgres_database(name: str) -> None:
    with _admin_engine().connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


TERMINAL_VARIABLES = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: hand each worker the terminal variables of the main process."""
    node.workerinput["terminal_variables"] = {
        name: os.environ.get(name) for name in TERMINAL_VARIABLES
    }


def pytest_configure(config: pytest.Config) -> None:
    """In an xdist worker, restore the main process's COLUMNS and LINES.

    Importing readline (pytest imports pdb) makes GNU readline set them in the
    process's C-level environment, which ``os.environ`` does not see but the
    worker processes inherit: the CLI under test would fit its tables to 80
    columns there and to no limit in a run without xdist."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    for name, value in workerinput["terminal_variables"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per backend, copied for each test."""
    templates: dict[str, str] = {}
    sqlite_file = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.create_engine(DatabaseSettings(url=f"sqlite:///{sqlite_file}"))
    migrate.upgrade(engine)
    engine.dispose()
    templates["sqlite"] = str(sqlite_file)
    if postgres_available():
        name = create_postgres_database()
        engine = db.create_engine(DatabaseSettings(url=postgres_url(name)), poolclass=sa.NullPool)
        migrate.upgrade(engine)
        engine.dispose()
        templates["postgresql"] = name
    yield templates
    if "postgresql" in templates:
        drop_postgres_database(templates["postgresql"])


@pytest.fixture(autouse=True)
def _logging_to_a_live_stream() -> Iterator[None]:
    """In-process CLI calls configure logging on pytest's captured stream,
    which is closed after the test; point it back at a stream that lives."""
    yield
    configure_logging("warning", "json", stream=sys.__stderr__)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each database test once per backend it applies to."""
    if "backend" not in metafunc.fixturenames:
        return
    marks = {mark.name for mark in metafunc.definition.iter_markers()}
    backends = [
        name
        for name in BACKENDS
        if not (name == "sqlite" and "postgresql_only" in marks)
        and not (name == "postgresql" and "sqlite_only" in marks)
    ]
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_postgres()
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, _templates: dict[str, str]) -> Iterator[str]:
    """URL of a fresh database at the migration head."""
    if backend == "sqlite":
        target = tmp_path / "audittrail.db"
        shutil.copyfile(_templates["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    name = create_postgres_database(template=_templates["postgresql"])
    try:
        yield postgres_url(name)
    finally:
        drop_postgres_database(name)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database with no tables at all."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = create_postgres_database()
    try:
        yield postgres_url(name)
    finally:
        drop_postgres_database(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = db.create_engine(DatabaseSettings(url=database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: sa.Engine) -> orm.sessionmaker[AuditSession]:
    return session_factory(engine)
