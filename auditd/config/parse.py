"""The configuration keys and the parsing behind :mod:`auditd.config`.

Private: callers import :mod:`auditd.config`. This module knows every dotted key
and its type, reads the three input layers (TOML file, ``AUDITD_*`` environment,
explicit overrides) into ``{dotted key: value}`` dicts, and checks single values.
Every mistake is a one-line :class:`ConfigError` naming the key; database URLs
are masked before they reach any message, because they may carry a password.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from auditd.config.crontab import crontab_trigger
from auditd.errors import ConfigError
from auditd.logging import FORMATS, LEVELS

JOB_NAMES = ("sync", "reconcile", "verify")
SECTIONS = ("database", "service", "logging", "jobs")
CONFIG_FILE_VARIABLE = "AUDITD_CONFIG"
ENV_PREFIX = "AUDITD_"

_JOB_KEY_TYPES: dict[str, type] = {
    "enabled": bool,
    "interval_seconds": int,
    "cron": str,
    "misfire_grace_seconds": int,
}

# Every configuration key and the type of its value. In the file, the environment and
# overrides, "" for database.url or a Path key means "not set: use the automatic default".
KEY_TYPES: dict[str, type] = {
    "database.url": str,
    "database.password_file": Path,
    "database.connect_timeout_seconds": int,
    "database.statement_timeout_seconds": int,
    "database.lock_timeout_seconds": int,
    "service.state_dir": Path,
    "service.batch_size": int,
    "service.shutdown_timeout_seconds": int,
    "service.startup_retry_initial_seconds": float,
    "service.startup_retry_max_seconds": float,
    "service.startup_retry_give_up_seconds": float,
    "logging.level": str,
    "logging.format": str,
    **{f"jobs.{job}.{key}": kind for job in JOB_NAMES for key, kind in _JOB_KEY_TYPES.items()},
}
_AUTOMATIC_WHEN_EMPTY = frozenset({"database.url", "database.password_file", "service.state_dir"})
_NULLABLE = frozenset(
    {"database.password_file"}
    | {f"jobs.{job}.{key}" for job in JOB_NAMES for key in ("interval_seconds", "cron")}
)
_TYPE_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path string",
}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
BATCH_SIZE_RANGE = (1, 100_000)
# Every other number is a duration in seconds. PostgreSQL takes timeouts up to
# 2**31 - 1 ms (24.8 days); no interval or grace time needs more.
MAX_SECONDS = 24 * 86_400

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


def env_variable(key: str) -> str:
    """Return the environment variable for a dotted key (``service.batch_size`` ->
    ``AUDITD_SERVICE_BATCH_SIZE``)."""
    return ENV_PREFIX + key.upper().replace(".", "_")


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Return a hint naming the closest candidates to a misspelt name, or None."""
    matches = difflib.get_close_matches(name, list(candidates), n=3)
    return f"did you mean {' or '.join(matches)}?" if matches else None


# libpq also takes passwords as query parameters (?password=..., ?sslpassword=...).
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&]*")


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


def normalise_database_url(text: str) -> str:
    """Return a supported database URL in canonical form, password included.

    Bare ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg2://``,
    ``sqlite+pysqlite`` becomes ``sqlite``. Raises ConfigError for anything unparseable,
    another driver, in-memory SQLite, a relative SQLite path or a PostgreSQL URL
    without a database name.
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
        raise ConfigError(f"database.url is not a valid database URL: {masked}", _URL_EXAMPLES)
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(
            f"database.url uses driver {url.drivername!r}: "
            f"only sqlite and {_PSYCOPG2} are supported",
            "psycopg 3 is not installed; write postgresql:// or postgresql+psycopg2://"
            if url.drivername.startswith("postgres")
            else _URL_EXAMPLES,
        )
    url = url.set(drivername=driver)
    if driver == "sqlite":
        url = _normalise_sqlite(url, masked)
    elif not url.database:
        raise ConfigError(f"database.url must name a PostgreSQL database: {masked}", _URL_EXAMPLES)
    return url.render_as_string(hide_password=False)


def _normalise_sqlite(url: URL, masked: str) -> URL:
    database = url.database or ""
    if (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    ):
        raise ConfigError(
            f"database.url is an in-memory SQLite database ({masked}): "
            "the audit history must persist",
            "give a file path, e.g. sqlite:////var/lib/audittrail/audittrail.db",
        )
    if database.startswith("file:"):
        return url  # an SQLite URI filename (with ?uri=true) is passed to SQLite as written
    if not os.path.isabs(database):
        # Relative to which directory? The service's differs from a shell's: refuse to guess.
        raise ConfigError(
            f"database.url has a relative SQLite path ({masked})",
            f"give an absolute path, with four slashes: sqlite:////path/to/{os.path.basename(database)},"
            " or leave database.url unset for service.state_dir/audittrail.db",
        )
    return url


def check_cron(key: str, expression: str) -> None:
    """Raise ConfigError unless ``expression`` is a 5-field crontab the daemon can schedule."""
    try:
        crontab_trigger(expression)
    except ValueError as exc:
        raise ConfigError(
            f"{key} is not a valid crontab expression: {expression!r} ({exc})",
            "use 5 fields: minute hour day-of-month month day-of-week, in UTC",
        ) from None


def _shown(key: str, value: object) -> str:
    if key == "database.url":
        return mask_url_text(value) if isinstance(value, str) else type(value).__name__
    return repr(str(value) if isinstance(value, Path) else value)


def validate(key: str, value: object) -> object:
    """Return ``value`` checked for ``key`` and normalised (absolute paths, canonical
    URL, lower-case level/format, int -> float); raise ConfigError naming the key."""
    kind = KEY_TYPES[key]
    if value is None and key in _NULLABLE:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is Path and isinstance(value, str) and value:
        value = Path(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {_TYPE_NAMES[kind]}, got: {_shown(key, value)}")
    if isinstance(value, Path):
        return Path(os.path.abspath(value))
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        _check_number(key, value)
        return value
    assert isinstance(value, str)
    if key == "database.url":
        return normalise_database_url(value)
    if key in ("logging.level", "logging.format"):
        choices = LEVELS if key == "logging.level" else FORMATS
        if value.lower() not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got: {value!r}")
        return value.lower()
    check_cron(key, value)  # the only other string key
    return value


def _check_number(key: str, value: int | float) -> None:
    noun = "integer" if isinstance(value, int) else "number"
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got: {value}")
    if key == "service.batch_size":
        low, high = BATCH_SIZE_RANGE
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low} and {high}, got: {value}")
    elif key == "service.startup_retry_give_up_seconds":
        if value < 0:
            raise ConfigError(f"{key} must be 0 (retry forever) or positive, got: {value}")
    elif value <= 0:
        raise ConfigError(f"{key} must be a positive {noun}, got: {value}")
    if key != "service.batch_size" and value > MAX_SECONDS:
        raise ConfigError(f"{key} must be at most {MAX_SECONDS} seconds (24 days), got: {value}")


def _parse_text(key: str, kind: type, text: str) -> object:
    """Turn an environment/override string into ``kind``; a bad string is a type error."""
    stripped = text.strip()
    try:
        if kind is bool:
            return _BOOL_WORDS[stripped.lower()]
        if kind is int:
            return int(stripped)
        if kind is float:
            return float(stripped)
    except (KeyError, ValueError):
        expected = "true/false/1/0/yes/no" if kind is bool else _TYPE_NAMES[kind]
        raise ConfigError(f"{key} must be {expected}, got: {text!r}") from None
    return text


def convert_layer(
    raw: Mapping[str, object], *, from_text: bool, origin: Callable[[str], str]
) -> dict[str, object]:
    """Return one layer's values validated; ``None`` marks "use the automatic default".

    ``from_text``: strings are parsed to the key's type (environment, command line).
    ``origin(key)`` says where a value came from and becomes the error's hint.
    Raises ConfigError for a bad value or a job given both interval_seconds and cron.
    """
    layer: dict[str, object] = {}
    for key, value in raw.items():
        try:
            if key in _AUTOMATIC_WHEN_EMPTY and value == "":
                layer[key] = None
                continue
            if from_text and isinstance(value, str) and KEY_TYPES[key] in (bool, int, float):
                value = _parse_text(key, KEY_TYPES[key], value)
            layer[key] = validate(key, value)
        except ConfigError as exc:
            hint = f"{exc.hint}; {origin(key)}" if exc.hint else origin(key)
            raise ConfigError(exc.message, hint) from None
    for job in JOB_NAMES:
        if f"jobs.{job}.interval_seconds" in layer and f"jobs.{job}.cron" in layer:
            raise ConfigError(
                f"jobs.{job} sets both interval_seconds and cron: give only one",
                origin(f"jobs.{job}.cron"),
            )
    return layer


def apply_layer(values: dict[str, object], layer: Mapping[str, object]) -> None:
    """Update ``values`` with ``layer``: a job schedule given in a layer replaces the
    schedule kind (interval or cron) from the layers below."""
    for job in JOB_NAMES:
        if f"jobs.{job}.interval_seconds" in layer:
            values[f"jobs.{job}.cron"] = None
        if f"jobs.{job}.cron" in layer:
            values[f"jobs.{job}.interval_seconds"] = None
    values.update(layer)


def read_file_layer(path: Path) -> dict[str, object]:
    """Return the validated values of a TOML config file.

    Raises ConfigError if the file is missing or unreadable, is not TOML (with the
    line), has an unknown section or key, or holds a bad value.
    """
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    raw: dict[str, object] = {}
    for section, table in data.items():
        if section not in SECTIONS and not isinstance(table, dict):
            leaf_keys = {key.rsplit(".", 1)[1]: key for key in KEY_TYPES}
            close = [leaf_keys[name] for name in difflib.get_close_matches(section, leaf_keys)]
            raise ConfigError(
                f"unknown top-level key {section!r} in {path}; settings belong in sections: "
                + ", ".join(SECTIONS),
                f"did you mean {' or '.join(close)}?" if close else None,
            )
        if section not in SECTIONS:
            raise ConfigError(
                f"unknown section [{section}] in {path}; valid sections: {', '.join(SECTIONS)}",
                did_you_mean(section, SECTIONS),
            )
        if section != "jobs":
            _collect_table(section, table, raw, path)
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"[jobs] in {path} must be a table, got: {table!r}")
        for job, body in table.items():
            if job not in JOB_NAMES:
                valid = ", ".join(f"jobs.{name}" for name in JOB_NAMES)
                raise ConfigError(
                    f"unknown section [jobs.{job}] in {path}; valid job sections: {valid}",
                    did_you_mean(job, JOB_NAMES),
                )
            _collect_table(f"jobs.{job}", body, raw, path)
    return convert_layer(raw, from_text=False, origin=lambda key: f"in {path}")


def _collect_table(prefix: str, table: object, raw: dict[str, object], path: Path) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"[{prefix}] in {path} must be a table, got: {table!r}")
    valid = [key.removeprefix(prefix + ".") for key in KEY_TYPES if key.startswith(prefix + ".")]
    for name, value in table.items():
        if name not in valid:
            raise ConfigError(
                f"unknown key {name!r} in [{prefix}] of {path}; valid keys: {', '.join(valid)}",
                did_you_mean(name, valid),
            )
        raw[f"{prefix}.{name}"] = value


def read_env_layer(environ: Mapping[str, str]) -> dict[str, object]:
    """Return the validated values of the ``AUDITD_*`` variables in ``environ``.

    ``AUDITD_CONFIG`` (the file selector) is skipped; any other ``AUDITD_*`` name
    that matches no key is a ConfigError listing close matches.
    """
    keys_by_variable = {env_variable(key): key for key in KEY_TYPES}
    raw: dict[str, object] = {}
    for variable, text in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_FILE_VARIABLE:
            continue
        key = keys_by_variable.get(variable)
        if key is None:
            known = [*keys_by_variable, CONFIG_FILE_VARIABLE]
            raise ConfigError(
                f"unknown environment variable {variable}",
                did_you_mean(variable, known) or "AUDITD_* names are reserved for settings",
            )
        raw[key] = text
    return convert_layer(
        raw, from_text=True, origin=lambda key: f"from environment variable {env_variable(key)}"
    )


def read_override_layer(overrides: Mapping[str, object]) -> dict[str, object]:
    """Return validated explicit overrides (dotted keys; ``None`` = flag not given).

    Strings are parsed like environment values. Unknown keys are a ConfigError.
    """
    for key in overrides:
        if key not in KEY_TYPES:
            raise ConfigError(f"unknown setting {key!r}", did_you_mean(key, KEY_TYPES))
    given = {key: value for key, value in overrides.items() if value is not None}
    return convert_layer(given, from_text=True, origin=lambda key: f"set by override {key}")


def toml_value(value: object) -> str:
    """Return ``value`` (bool, int, float, str or Path) as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # A JSON string is a TOML basic string, except that TOML also forbids a raw DEL.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
