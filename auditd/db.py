"""Engines, sessions and the checks that must pass before any work.

Every engine is created here, so connection settings (timeouts, SQLite
pragmas, the psycopg2 driver, the application name other tools see) are the
same for the CLI, the daemon and reporting scripts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from auditd.config import DatabaseSettings
from auditd.errors import DatabaseUnavailableError, first_line

APPLICATION_NAME = "audittrail"
# RETURNING and UPSERT inside triggers need SQLite 3.35.
MIN_SQLITE = (3, 35, 0)


def create_engine(settings: DatabaseSettings, **kwargs: Any) -> sa.Engine:
    """An engine for the configured database with our connection settings.

    Raises :class:`DatabaseUnavailableError` when SQLite is too old. Nothing
    connects yet; use :func:`check_connection` for that.
    """
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


def check_connection(engine: sa.Engine, settings: DatabaseSettings) -> None:
    """Open one connection and run ``SELECT 1``.

    Raises :class:`DatabaseUnavailableError` with a one-line reason.
    """
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DatabaseError) as error:
        raise DatabaseUnavailableError(
            describe_connection_error(error, settings),
            "check database.url, that the server is running and the credentials",
        ) from None


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A short write transaction on its own connection, committed on success."""
    with writer(engine).begin() as connection:
        yield connection
