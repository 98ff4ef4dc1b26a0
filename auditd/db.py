"""Engines, sessions and the checks that must pass before any work.

Every engine is created here, so connection settings (timeouts, SQLite
pragmas, the psycopg2 driver, the application name other tools see) are the
same for the CLI, the daemon and reporting scripts.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from auditd.config import DatabaseSettings
from auditd.config.schema_name import DEFAULT_AUDIT_SCHEMA
from auditd.errors import AuditdError, DatabaseAccessError, DatabaseUnavailableError, first_line

APPLICATION_NAME = "audittrail"
# RETURNING and UPSERT inside triggers need SQLite 3.35.
MIN_SQLITE = (3, 35, 0)


def create_engine(settings: DatabaseSettings, **kwargs: Any) -> sa.Engine:
    """An engine for the configured database with our connection settings.

    The models name their audit tables in the placeholder schema
    ``audittrail``; the engine translates it to ``database.audit_schema`` on
    PostgreSQL and to no schema on SQLite (see :mod:`auditd.models.namespace`).
    Raises :class:`DatabaseUnavailableError` when SQLite is too old. Nothing
    connects yet; use :func:`check_connection` for that.
    """
    return _create_engine(settings, **kwargs).execution_options(
        schema_translate_map={
            DEFAULT_AUDIT_SCHEMA: settings.audit_schema
            if settings.backend == "postgresql"
            else None
        }
    )


def _create_engine(settings: DatabaseSettings, **kwargs: Any) -> sa.Engine:
    url = settings.connect_url()
    if settings.backend == "sqlite":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise DatabaseUnavailableError(
                f"SQLite {sqlite3.sqlite_version} is too old",
                "audittrail needs SQLite 3.35 or newer",
            )
        engine = sa.create_engine(
            url,
            connect_args={"timeout": settings.lock_timeout_seconds},
            **kwargs,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    milliseconds = {
        "statement_timeout": settings.statement_timeout_seconds * 1000,
        "lock_timeout": settings.lock_timeout_seconds * 1000,
    }
    options = " ".join(f"-c {name}={value}" for name, value in milliseconds.items())
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": settings.connect_timeout_seconds,
            "application_name": APPLICATION_NAME,
            "options": options,
        },
        **kwargs,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would BEGIN lazily and not at all
    # for DDL; take control so that "begin" below is the only BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with
    # "database is locked" if another writer committed in between; writers
    # take the write lock up front (and wait up to the lock timeout) instead.
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


SQLITE_BEGIN = "audittrail_sqlite_begin"


def writer(engine: sa.Engine) -> sa.Engine:
    """The same engine, for transactions that will write (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})


def ensure_sqlite_folder(settings: DatabaseSettings) -> None:
    """Create the folder of a SQLite database file (the embedded default lives
    in a state directory that may not exist yet). :class:`DatabaseUnavailableError`
    when it cannot be created; an SQLite URI filename is left to SQLite."""
    database = settings.connect_url().database or ""
    if settings.backend != "sqlite" or database.startswith("file:"):
        return
    folder = Path(database).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise DatabaseUnavailableError(
            f"cannot create the folder {str(folder)!r} of {settings.masked_url()}: {reason}",
            "check the database URL or the state directory and its permissions",
        ) from None


def require_sqlite_file(settings: DatabaseSettings) -> None:
    """:class:`DatabaseUnavailableError` when the SQLite database file does not
    exist (SQLite would create it, and its folder is not made either); an
    SQLite URI filename is left to SQLite."""
    database = settings.connect_url().database or ""
    if settings.backend != "sqlite" or database.startswith("file:"):
        return
    if not Path(database).is_file():
        raise DatabaseUnavailableError(
            f"SQLite database {database!r} not found",
            "check database.url, or create it with `audittrail migrate`",
        )


def describe_connection_error(error: BaseException, settings: DatabaseSettings) -> str:
    """One line saying why the database cannot be used, without any secret."""
    return f"cannot connect to {settings.masked_url()}: {first_line(error)}"


# What the server (or libpq) says when it refuses this configuration rather
# than being unreachable: wrong credentials, a role or database that does not
# exist, no right to connect, an option libpq does not accept. Waiting does not
# change any of these, so they are not retried.
_REFUSED = re.compile(
    r"authentication failed"
    r"|role \".*\" does not exist"
    r"|database \".*\" does not exist"
    r"|no pg_hba\.conf entry"
    r"|permission denied for database"
    r"|is not permitted to log in"
    r"|no password supplied"
    r"|invalid (connection option|integer value|\w+ value)"
)
# SQLSTATE insufficient_privilege, raised by a statement the role may not run.
INSUFFICIENT_PRIVILEGE = "42501"


def classify_database_error(error: BaseException, settings: DatabaseSettings) -> AuditdError:
    """The error to report for ``error``, raised while connecting or checking the
    database: :class:`DatabaseAccessError` (exit 3, not retried) when the
    database refuses these credentials or this role lacks a privilege,
    :class:`DatabaseUnavailableError` (exit 4, retried) otherwise."""
    reason = describe_connection_error(error, settings)
    original = getattr(error, "orig", None)
    if getattr(original, "pgcode", None) == INSUFFICIENT_PRIVILEGE:
        return DatabaseAccessError(
            f"{settings.masked_url()}: {first_line(error)}",
            "grant the role what docs/systemd.md lists under PostgreSQL privileges",
        )
    if _REFUSED.search(first_line(error)):
        return DatabaseAccessError(
            reason, "check the user, password (database.password_file) and database name"
        )
    return DatabaseUnavailableError(
        reason, "check database.url, that the server is running and the credentials"
    )


def check_connection(engine: sa.Engine, settings: DatabaseSettings) -> None:
    """Open one connection and run ``SELECT 1``.

    Raises the one-line error of :func:`classify_database_error`.
    """
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as error:
        raise classify_database_error(error, settings) from None


def check_sqlite_writable(settings: DatabaseSettings) -> None:
    """Refuse a SQLite database this process could read but never write.

    SQLite needs to create its ``-wal`` and ``-shm`` files next to the database
    and to open the database itself for writing; a read-only folder or file
    would otherwise pass the start-up checks and fail every job run. Raises
    :class:`DatabaseAccessError` naming the folder or file.
    """
    url = settings.connect_url()
    database = url.database or ""
    if settings.backend != "sqlite" or database.startswith("file:"):
        return
    path = Path(database)
    hint = "give the daemon's user write access to the database file and its folder"
    if url.query.get("mode") == "ro" or url.query.get("immutable") == "1":
        raise DatabaseAccessError(
            f"{settings.masked_url()} opens the SQLite database read-only",
            "remove ?mode=ro or ?immutable=1 from database.url",
        )
    try:
        probe, probe_path = tempfile.mkstemp(prefix=".audittrail-probe-", dir=path.parent)
    except OSError as error:
        raise DatabaseAccessError(
            f"the folder {str(path.parent)!r} of the SQLite database is not writable: "
            f"{error.strerror}",
            hint,
        ) from None
    os.close(probe)
    os.unlink(probe_path)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
    except FileNotFoundError:
        return  # created empty by SQLite; the schema check then says what to do
    except OSError as error:
        raise DatabaseAccessError(
            f"the SQLite database {str(path)!r} is not writable: {error.strerror}", hint
        ) from None


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A short write transaction on its own connection, committed on success."""
    with writer(engine).begin() as connection:
        yield connection


def upsert(connection: sa.Connection, table: sa.Table) -> Any:
    """An INSERT into ``table`` for ``connection``'s backend, which offers
    ``on_conflict_do_nothing`` and ``on_conflict_do_update``."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    return insert(table)
