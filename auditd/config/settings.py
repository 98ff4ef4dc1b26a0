"""Frozen, validated settings for the daemon, loaded once at start.

Precedence, lowest first: built-in defaults, the TOML file (``config_path`` or
``$AUDITD_CONFIG``), ``AUDITD_*`` environment variables, explicit overrides (the
command-line flags). Every mistake is a one-line :class:`~auditd.errors.ConfigError`
naming the key. The database password (in the URL or in ``password_file``) never
appears in ``repr``, ``str``, error messages or :func:`render_settings`.

The constant defaults live in the dataclass fields below; ``config/audittrail.toml``
documents them and a test keeps the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy.engine import URL, make_url

from auditd.config import parse
from auditd.errors import ConfigError

__all__ = [
    "DatabaseSettings",
    "JobSettings",
    "LoggingSettings",
    "ServiceSettings",
    "Settings",
    "load_settings",
    "render_settings",
]

_DATABASE_FILE_NAME = "audittrail.db"


def _validate_fields(settings: Any, section: str) -> None:
    """Check and normalise every field of a frozen settings object in place."""
    for spec in fields(settings):
        key = f"{section}.{spec.name}"
        if key in parse.KEY_TYPES:
            value = parse.validate(key, getattr(settings, spec.name))
            object.__setattr__(settings, spec.name, value)


@dataclass(frozen=True, kw_only=True, repr=False)
class DatabaseSettings:
    """Where the audit database is and how long to wait for it.

    ``url`` is normalised on construction (``sqlite`` or ``postgresql+psycopg2``,
    absolute SQLite path) and may hold a password: it compares and hashes as a
    plain field, but ``repr`` shows :meth:`masked_url` instead.
    """

    url: str
    password_file: Path | None = None
    connect_timeout_seconds: int = 10
    statement_timeout_seconds: int = 300
    lock_timeout_seconds: int = 10

    def __post_init__(self) -> None:
        _validate_fields(self, "database")
        if self.password_file is not None and self.backend == "sqlite":
            raise ConfigError(
                "database.password_file is set but database.url is SQLite, which takes no password",
                "unset database.password_file or use a PostgreSQL URL",
            )

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return make_url(self.url).drivername.partition("+")[0]

    def masked_url(self) -> str:
        """Return the URL with any password (also ``?password=``) as ``***``, safe to log."""
        return parse.mask_url_text(self.url)

    def connect_url(self) -> URL:
        """Return the URL to connect with: if ``password_file`` is set, its content
        (without trailing newlines) replaces any password in ``url``.

        The file is read on every call, so a rotated credential takes effect on the
        next connection. Raises ConfigError if it is missing, unreadable or empty.
        """
        url = make_url(self.url)
        if self.password_file is None:
            return url
        return url.set(password=_read_password(self.password_file))

    def __repr__(self) -> str:
        shown = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        shown["url"] = self.masked_url()
        fields_text = ", ".join(f"{name}={value!r}" for name, value in shown.items())
        return f"DatabaseSettings({fields_text})"


def _read_password(path: Path) -> str:
    hint = "with systemd, set LoadCredential= and point at $CREDENTIALS_DIRECTORY/<name>"
    password: str | None = None
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        message = f"database.password_file {path} cannot be read: {exc.strerror}"
        raise ConfigError(message, hint) from None
    except UnicodeDecodeError:
        pass  # raised below, outside this block: the decode error quotes password bytes
    if password is None:
        raise ConfigError(f"database.password_file {path} is not UTF-8 text", hint)
    if not password:
        raise ConfigError(f"database.password_file {path} is empty", hint)
    return password


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    """One scheduled job: runs every ``interval_seconds`` or on a UTC ``cron``
    schedule (exactly one is set); a run later than ``misfire_grace_seconds`` is
    skipped."""

    name: str
    enabled: bool = True
    interval_seconds: int | None = None
    cron: str | None = None
    misfire_grace_seconds: int

    def __post_init__(self) -> None:
        if self.name not in parse.JOB_NAMES:
            raise ConfigError(
                f"job name must be one of {', '.join(parse.JOB_NAMES)}, got: {self.name!r}"
            )
        _validate_fields(self, f"jobs.{self.name}")
        if (self.interval_seconds is None) == (self.cron is None):
            raise ConfigError(
                f"jobs.{self.name} needs exactly one of interval_seconds and cron, "
                f"got interval_seconds={self.interval_seconds!r}, cron={self.cron!r}"
            )

    def describe(self) -> str:
        """Return the schedule for people: ``every 30s`` or ``cron '0 3 * * *' (UTC)``."""
        if self.cron is not None:
            return f"cron {self.cron!r} (UTC)"
        return f"every {self.interval_seconds}s"


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """How the daemon runs: state directory, batch size, shutdown and start-up retry.

    ``startup_retry_*``: while the database is unreachable at start, wait
    ``initial`` seconds, doubling up to ``max``; give up after ``give_up`` seconds
    (0 = retry forever).
    """

    state_dir: Path
    batch_size: int = 1000
    shutdown_timeout_seconds: int = 20
    startup_retry_initial_seconds: float = 1.0
    startup_retry_max_seconds: float = 30.0
    startup_retry_give_up_seconds: float = 0.0

    def __post_init__(self) -> None:
        _validate_fields(self, "service")
        if self.startup_retry_initial_seconds > self.startup_retry_max_seconds:
            raise ConfigError(
                "service.startup_retry_initial_seconds must not exceed "
                f"service.startup_retry_max_seconds, got: {self.startup_retry_initial_seconds} "
                f"> {self.startup_retry_max_seconds}"
            )


@dataclass(frozen=True, kw_only=True)
class LoggingSettings:
    """Log ``level`` (debug, info, warning, error) and ``format`` (auto, json, console;
    auto = console on a terminal, JSON otherwise)."""

    level: str = "info"
    format: str = "auto"

    def __post_init__(self) -> None:
        _validate_fields(self, "logging")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The whole configuration. ``jobs`` is read-only and keyed by job name
    (sync, reconcile, verify); ``sources`` lists where values came from, lowest
    precedence first."""

    database: DatabaseSettings
    service: ServiceSettings
    logging: LoggingSettings
    jobs: Mapping[str, JobSettings]
    # Provenance, not configuration: the same values from another source compare equal.
    sources: tuple[str, ...] = field(default=("defaults",), compare=False)

    def __post_init__(self) -> None:
        if sorted(self.jobs) != sorted(parse.JOB_NAMES) or any(
            job.name != name for name, job in self.jobs.items()
        ):
            raise ConfigError(
                f"jobs must map each of {', '.join(parse.JOB_NAMES)} to its JobSettings, "
                f"got: {', '.join(self.jobs)}"
            )
        object.__setattr__(self, "jobs", MappingProxyType(dict(self.jobs)))
        object.__setattr__(self, "sources", tuple(self.sources))


_DEFAULT_JOBS = (
    JobSettings(name="sync", interval_seconds=30, misfire_grace_seconds=30),
    JobSettings(name="reconcile", cron="0 3 * * *", misfire_grace_seconds=3600),
    JobSettings(name="verify", interval_seconds=3600, misfire_grace_seconds=300),
)
_SECTION_CLASSES = (
    ("database", DatabaseSettings),
    ("service", ServiceSettings),
    ("logging", LoggingSettings),
)


def _default_values() -> dict[str, object]:
    """The built-in defaults by dotted key; ``None`` for url and state_dir means
    "derive from the environment" (see :func:`_build`)."""
    values: dict[str, object] = {"database.url": None, "service.state_dir": None}
    for section, cls in _SECTION_CLASSES:
        for spec in fields(cls):
            if spec.default is not MISSING:
                values[f"{section}.{spec.name}"] = spec.default
    for job in _DEFAULT_JOBS:
        for spec in fields(job):
            if spec.name != "name":
                values[f"jobs.{job.name}.{spec.name}"] = getattr(job, spec.name)
    return values


def load_settings(
    config_path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Return the validated settings: defaults, then the TOML file, then ``AUDITD_*``
    variables, then ``overrides``.

    The file is ``config_path`` if given, else ``$AUDITD_CONFIG`` if set and not
    empty, else none. ``environ`` defaults to ``os.environ``. ``overrides`` maps
    dotted keys (``"logging.level"``) to values; strings are parsed like environment
    values and ``None`` means "not given". A job schedule (interval_seconds or cron)
    from a higher layer replaces the other kind from lower layers. The state
    directory defaults to the first entry of ``$STATE_DIRECTORY``, else ``./state``;
    an empty database.url means SQLite in the state directory.

    Raises ConfigError for a missing or malformed file, an unknown section, key,
    ``AUDITD_*`` variable or override, a value of the wrong type or out of range,
    or an unsupported database URL.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    values = _default_values()
    sources = ["defaults"]
    path = config_path
    if path is None and env.get(parse.CONFIG_FILE_VARIABLE):
        path = Path(env[parse.CONFIG_FILE_VARIABLE])
    if path is not None:
        parse.apply_layer(values, parse.read_file_layer(path))
        sources.append(str(path))
    for label, layer in (
        ("environment", parse.read_env_layer(env)),
        ("overrides", parse.read_override_layer(overrides or {})),
    ):
        if layer:
            parse.apply_layer(values, layer)
            sources.append(label)
    return _build(values, tuple(sources), env)


def _build(
    values: Mapping[str, object], sources: tuple[str, ...], env: Mapping[str, str]
) -> Settings:
    def section(prefix: str) -> dict[str, Any]:
        return {
            key.removeprefix(f"{prefix}."): value
            for key, value in values.items()
            if key.startswith(f"{prefix}.")
        }

    service = section("service")
    if service["state_dir"] is None:
        # systemd's StateDirectory= sets $STATE_DIRECTORY, colon-separated if several.
        service["state_dir"] = env.get("STATE_DIRECTORY", "").split(":")[0] or "state"
    service_settings = ServiceSettings(**service)
    database = section("database")
    if database["url"] is None:
        # The state directory may be relative (./state for `make run`): the current one.
        database_path = os.path.abspath(service_settings.state_dir / _DATABASE_FILE_NAME)
        database["url"] = URL.create("sqlite", database=database_path).render_as_string()
    return Settings(
        database=DatabaseSettings(**database),
        service=service_settings,
        logging=LoggingSettings(**section("logging")),
        jobs={job: JobSettings(name=job, **section(f"jobs.{job}")) for job in parse.JOB_NAMES},
        sources=sources,
    )


def render_settings(settings: Settings) -> str:
    """Return the effective configuration as TOML text, password masked as ``***``.

    Loading the text back gives the same settings unless a password was masked.
    """
    lines = [
        "# Effective audittrail configuration (secrets masked).",
        f"# Sources, lowest precedence first: {', '.join(settings.sources)}",
    ]
    tables: list[tuple[str, Any]] = [
        ("database", settings.database),
        ("service", settings.service),
        ("logging", settings.logging),
        *((f"jobs.{name}", job) for name, job in settings.jobs.items()),
    ]
    for prefix, table in tables:
        lines += ["", f"[{prefix}]"]
        for spec in fields(table):
            key = f"{prefix}.{spec.name}"
            value = getattr(table, spec.name)
            if key == "database.url":
                value = settings.database.masked_url()
            if key not in parse.KEY_TYPES or (value is None and key.startswith("jobs.")):
                continue
            lines.append(f"{spec.name} = {parse.toml_value('' if value is None else value)}")
    return "\n".join(lines) + "\n"
