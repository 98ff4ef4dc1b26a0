"""Database URLs and credentials: normalised, checked before any connection, masked.

A URL may carry a password (in the user info or as ``?password=``), so it is
masked before it reaches any message, and SQLAlchemy's own parse errors,
which can quote it, are never chained.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from auditd.errors import ConfigError

__all__ = ["check_password_file", "mask_url_text", "normalise_database_url", "read_password"]

# SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed.
_PSYCOPG2 = "postgresql+psycopg2"
_DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": _PSYCOPG2,
    "postgres": _PSYCOPG2,
    "postgresql+psycopg2": _PSYCOPG2,
    "postgres+psycopg2": _PSYCOPG2,
}
_URL_EXAMPLES = "e.g. sqlite:////var/lib/audittrail/audittrail.db or postgresql://user@host/dbname"
# libpq also takes passwords as query parameters (?password=..., ?sslpassword=...).
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&]*")
# A Unix socket folder that cannot exist: libpq checks every option before it
# tries to connect, and then fails at once without touching the network.
_PROBE_HOST = "/nonexistent/audittrail-option-check"
_CREDENTIAL_HINT = "with systemd, set LoadCredential= and point at $CREDENTIALS_DIRECTORY/<name>"


def mask_url_text(text: str) -> str:
    """Return a database URL with its passwords (user info and query) as ``***``.

    A URL SQLAlchemy cannot parse shows only its scheme: without a parse we cannot
    tell a password from a host (``postgresql://user:secret/db`` is a bad port).
    """
    try:
        rendered = make_url(text).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        scheme, separator, _ = text.partition("://")
        return f"{scheme}://***" if separator else "***"
    return _QUERY_PASSWORD.sub(r"\1***", rendered)


def normalise_database_url(key: str, text: str) -> str:
    """Return a supported database URL in canonical form, password included.

    Bare ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg2://``,
    ``sqlite+pysqlite`` becomes ``sqlite`` and a relative SQLite path becomes absolute
    (against the current directory). Raises ConfigError for anything unparseable,
    another driver, in-memory SQLite, a PostgreSQL URL without a database name,
    or a ``?option=`` that libpq does not know or whose value it refuses.
    """
    text = text.strip()
    masked = mask_url_text(text)
    try:
        url: URL | None = make_url(text)
    except (ArgumentError, ValueError):
        url = None
    if url is None:
        # Raised outside the except block so that SQLAlchemy's error, which can quote
        # the password, is not even kept as __context__.
        raise ConfigError(f"{key} is not a valid database URL: {masked}", _URL_EXAMPLES)
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(
            f"{key} uses driver {url.drivername!r}: only sqlite and {_PSYCOPG2} are supported",
            "psycopg 3 is not installed; write postgresql:// or postgresql+psycopg2://"
            if url.drivername.startswith("postgres")
            else _URL_EXAMPLES,
        )
    url = url.set(drivername=driver)
    if driver == "sqlite":
        url = _normalise_sqlite(key, url, masked)
    elif not url.database:
        raise ConfigError(f"{key} must name a PostgreSQL database: {masked}", _URL_EXAMPLES)
    else:
        _check_libpq_options(key, url)
    return url.render_as_string(hide_password=False)


def _normalise_sqlite(key: str, url: URL, masked: str) -> URL:
    database = url.database or ""
    if (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    ):
        raise ConfigError(
            f"{key} is an in-memory SQLite database ({masked}): the audit history must persist",
            "give a file path, e.g. sqlite:////var/lib/audittrail/audittrail.db",
        )
    if database.startswith("file:"):
        return url  # an SQLite URI filename (with ?uri=true) is passed to SQLite as written
    if not os.path.isabs(database):
        # Relative to which directory? The service's differs from a shell's: refuse to guess.
        raise ConfigError(
            f"{key} has a relative SQLite path ({masked})",
            "give an absolute path, with four slashes:"
            f" sqlite:////path/to/{os.path.basename(database)},"
            " or leave it unset for service.state_dir/audittrail.db",
        )
    return url


def _check_libpq_options(key: str, url: URL) -> None:
    """Let libpq itself judge the URL's ``?name=value`` options, offline.

    The options go to libpq with a host that cannot exist: libpq refuses an
    unknown option or a bad value (``sslmode=bogus``) before connecting, and
    otherwise fails to reach the socket at once. A refused option would
    otherwise be retried as "database unavailable" for ever.
    """
    # Where to connect is the one thing the probe replaces (a host address
    # would make libpq really connect); the URL's own host and port are parsed.
    options = {
        name: value
        for name, value in url.query.items()
        if isinstance(value, str) and name not in ("host", "hostaddr", "port")
    }
    import psycopg2

    problem: str | None = None
    try:
        psycopg2.connect(dbname="probe", host=_PROBE_HOST, **options).close()
    except psycopg2.Error as error:
        lines = str(error).strip().splitlines()
        if lines and _PROBE_HOST not in lines[0]:
            problem = lines[0].removeprefix("invalid dsn: ")
    if problem is not None:
        raise ConfigError(
            f"{key} has a connection option that libpq refuses: {problem}",
            "see the parameter key words of libpq's documentation",
        )


def read_password(key: str, path: Path) -> str:
    """The password in ``path`` without trailing newlines.

    ConfigError if the file is missing, unreadable, not UTF-8 text or empty.
    """
    password: str | None = None
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(
            f"{key} {path} cannot be read: {exc.strerror}", _CREDENTIAL_HINT
        ) from None
    except UnicodeDecodeError:
        pass  # raised below, outside this block: the decode error quotes password bytes
    if password is None:
        raise ConfigError(f"{key} {path} is not UTF-8 text", _CREDENTIAL_HINT)
    if not password:
        raise ConfigError(f"{key} {path} is empty", _CREDENTIAL_HINT)
    return password


def check_password_file(key: str, path: Path) -> None:
    """ConfigError unless ``path`` is a readable file holding a password."""
    read_password(key, path)
