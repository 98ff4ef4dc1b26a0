"""Every configuration key, declared once: the sections of the settings.

Each field of these frozen dataclasses is one key (``[section] name``),
declared with :func:`~auditd.config.keys.setting`: its type, default, range,
choices and the documentation that ``config/audittrail.toml`` shows. An
instance validates and normalises every field on construction, so settings
built in code are held to the same rules as a configuration file. The
database password (in the URL or in ``password_file``) never appears in
``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from auditd.config.crontab import crontab_trigger
from auditd.config.database_url import (
    check_password_file,
    mask_url_text,
    normalise_database_url,
    read_password,
)
from auditd.config.keys import Key, check_value, setting
from auditd.config.listen import check_listen_address
from auditd.config.schema_name import DEFAULT_AUDIT_SCHEMA, check_schema_name
from auditd.errors import ConfigError
from auditd.logging import FORMATS, LEVELS

__all__ = [
    "BATCH_SIZE_RANGE",
    "DEFAULTS",
    "JOB_NAMES",
    "KEYS",
    "SECTIONS",
    "DatabaseSettings",
    "JobSettings",
    "LedgerSettings",
    "LoggingSettings",
    "MetricsSettings",
    "RetentionSettings",
    "ServiceSettings",
    "shown_value",
]

BATCH_SIZE_RANGE = (1, 100_000)
JOB_NAMES = ("sync", "reconcile", "verify", "seal", "prune")


def _check_cron(key: str, expression: str) -> str:
    try:
        crontab_trigger(expression)
    except ValueError as exc:
        raise ConfigError(
            f"{key} is not a valid crontab expression: {expression!r} ({exc})",
            "use 5 fields: minute hour day-of-month month day-of-week, in UTC",
        ) from None
    return expression


def shown_value(key: str, value: object) -> str:
    """A value as an error message may show it: a database URL masked."""
    if key == "database.url":
        return mask_url_text(value) if isinstance(value, str) else type(value).__name__
    return repr(value)


def _validate(settings: Any, section: str) -> None:
    """Check and normalise every declared field of a frozen settings object."""
    for spec in fields(settings):
        key: Key | None = spec.metadata.get("key")
        if key is not None:
            name = f"{section}.{spec.name}"
            value = check_value(name, key, getattr(settings, spec.name), partial(shown_value, name))
            object.__setattr__(settings, spec.name, value)


@dataclass(frozen=True, kw_only=True, repr=False)
class DatabaseSettings:
    """Where the audit database is and how long to wait for it.

    ``url`` is normalised on construction (``sqlite`` or ``postgresql+psycopg2``,
    absolute SQLite path) and may hold a password: it compares and hashes as a
    plain field, but ``repr`` shows :meth:`masked_url` instead.
    """

    url: str = setting(
        kind=str,
        check=normalise_database_url,
        automatic="SQLite file audittrail.db in service.state_dir",
        doc="""SQLAlchemy URL of the audited database. Supported:
  url = "sqlite:////var/lib/audittrail/audittrail.db"
        (4 slashes: an absolute path; a relative path is resolved against
        the current directory)
  url = "postgresql://audittrail@db.example.org:5432/openevent"
postgresql:// and postgres:// mean postgresql+psycopg2://; other drivers and
in-memory SQLite are rejected, and so are ?options libpq does not accept
(e.g. ?sslmode=bogus). Prefer password_file to a password in the URL.""",
    )
    password_file: Path | None = setting(
        None,
        kind=Path,
        optional=True,
        doc="""File holding the PostgreSQL password (one line), read at each connection and
used in place of any password in the URL; it must exist and be readable. With
systemd: LoadCredential=dbpass:/etc/audittrail/dbpass and
  password_file = "/run/credentials/audittrail.service/dbpass\"""",
    )
    connect_timeout_seconds: int = setting(
        10, kind=int, positive=True, seconds=True, doc="Seconds to wait for a connection."
    )
    statement_timeout_seconds: int = setting(
        300,
        kind=int,
        positive=True,
        seconds=True,
        doc="Seconds after which the server cancels one statement (statement_timeout).",
    )
    lock_timeout_seconds: int = setting(
        10,
        kind=int,
        positive=True,
        seconds=True,
        doc="Seconds to wait for a lock held by another session before giving up.",
    )
    audit_schema: str = setting(
        DEFAULT_AUDIT_SCHEMA,
        kind=str,
        check=check_schema_name,
        doc="""PostgreSQL schema holding every audit table and function (the transaction
table, version tables, bookkeeping, capture functions), apart from the
application's own objects. Every process using one database must use the same
value; migrate and adopt create the schema. Ignored on SQLite, where audit
objects are told apart by their audittrail_ prefix.""",
    )

    def __post_init__(self) -> None:
        _validate(self, "database")
        if self.password_file is not None and self.backend == "sqlite":
            raise ConfigError(
                "database.password_file is set but database.url is SQLite, which takes no password",
                "unset database.password_file or use a PostgreSQL URL",
            )
        if self.password_file is not None:
            check_password_file("database.password_file", self.password_file)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return make_url(self.url).drivername.partition("+")[0]

    def masked_url(self) -> str:
        """Return the URL with any password (also ``?password=``) as ``***``, safe to log."""
        return mask_url_text(self.url)

    def connect_url(self) -> URL:
        """Return the URL to connect with: if ``password_file`` is set, its content
        (without trailing newlines) replaces any password in ``url``.

        The file is read on every call, so a rotated credential takes effect on the
        next connection. Raises ConfigError if it is missing, unreadable or empty.
        """
        url = make_url(self.url)
        if self.password_file is None:
            return url
        return url.set(password=read_password("database.password_file", self.password_file))

    def __repr__(self) -> str:
        shown = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        shown["url"] = self.masked_url()
        fields_text = ", ".join(f"{name}={value!r}" for name, value in shown.items())
        return f"DatabaseSettings({fields_text})"


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """How the daemon runs: state directory, batches, shutdown, start-up retry and
    how quickly sync follows a commit."""

    state_dir: Path = setting(
        kind=Path,
        automatic="$STATE_DIRECTORY (set by systemd's StateDirectory=; its first entry), "
        "else ./state under the current directory",
        doc="""Directory for the daemon's state (the default SQLite database lives here).
Relative paths are resolved against the current directory.""",
    )
    batch_size: int = setting(
        1000,
        kind=int,
        minimum=BATCH_SIZE_RANGE[0],
        maximum=BATCH_SIZE_RANGE[1],
        doc="Rows handled per batch; each batch is one transaction.",
    )
    shutdown_timeout_seconds: int = setting(
        20,
        kind=int,
        positive=True,
        seconds=True,
        doc="Seconds a stopping daemon waits for the running job before exiting anyway.",
    )
    startup_retry_initial_seconds: float = setting(
        1.0,
        kind=float,
        positive=True,
        seconds=True,
        doc="""While the database is unreachable at start, wait this many seconds before the
first retry, doubling each time ...""",
    )
    startup_retry_max_seconds: float = setting(
        30.0,
        kind=float,
        positive=True,
        seconds=True,
        doc="... up to this many seconds between retries (at least the initial wait) ...",
    )
    startup_retry_give_up_seconds: float = setting(
        0.0,
        kind=float,
        minimum=0,
        seconds=True,
        doc="... and give up (exit 4) after this many seconds in total. 0 = retry forever.",
    )
    sync_on_change: bool = setting(
        True,
        kind=bool,
        doc="""Run sync within seconds of a commit, not only on its schedule: PostgreSQL
notifies the daemon at each commit that wrote history (LISTEN/NOTIFY); on SQLite
the daemon polls the latest transaction id every change_poll_seconds. Bursts are
coalesced into one run; the schedule of [jobs.sync] stays as a fallback.""",
    )
    change_poll_seconds: float = setting(
        1.0,
        kind=float,
        minimum=0.1,
        maximum=60,
        doc="SQLite only: seconds between two looks at the latest transaction id.",
    )

    def __post_init__(self) -> None:
        _validate(self, "service")
        if self.startup_retry_initial_seconds > self.startup_retry_max_seconds:
            raise ConfigError(
                "service.startup_retry_initial_seconds must not exceed "
                f"service.startup_retry_max_seconds, got: {self.startup_retry_initial_seconds} "
                f"> {self.startup_retry_max_seconds}"
            )


@dataclass(frozen=True, kw_only=True)
class LoggingSettings:
    """Log level and format."""

    level: str = setting("info", kind=str, choices=LEVELS, doc="Log level.")
    format: str = setting(
        "auto",
        kind=str,
        choices=FORMATS,
        doc="auto: console on a terminal, JSON lines otherwise (e.g. under systemd).",
    )

    def __post_init__(self) -> None:
        _validate(self, "logging")


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    """The Prometheus endpoint: off unless a listen address is set."""

    listen_address: str = setting(
        "",
        kind=str,
        check=check_listen_address,
        doc="""Serve Prometheus metrics at http://ADDRESS/metrics and a health check at
/healthz (200 while the watchdog is fed, 503 otherwise). Empty: off.
PORT alone listens on the loopback address 127.0.0.1; HOST:PORT or
[IPv6]:PORT elsewhere, e.g. "127.0.0.1:9464".""",
    )

    def __post_init__(self) -> None:
        _validate(self, "metrics")

    @property
    def enabled(self) -> bool:
        return bool(self.listen_address)


@dataclass(frozen=True, kw_only=True)
class LedgerSettings:
    """The sealed ledger: how big a block is and where the daemon copies each digest."""

    block_size: int = setting(
        5000,
        kind=int,
        minimum=1,
        maximum=100_000,
        doc="""Transactions per ledger block at most; each block is sealed in a transaction
of its own, and holds no more transactions than wrote 50,000 versions (one
that wrote more gets a block of its own). Larger blocks seal and verify
faster (a block costs a few milliseconds of planning whatever its size); a
broken block names the transaction, table and key whatever its size.""",
    )
    readers: int = setting(
        0,
        kind=int,
        minimum=0,
        maximum=16,
        doc="""Readers with which sealing and integrity verification read blocks at once:
on PostgreSQL, connections sharing the job's snapshot (the server digests a
block on one core per connection); on SQLite, worker processes with a
connection each, for four blocks or more (Python digests a block on one core
per process). 0: one per core, at most 4. 1: every block on the job's own
connection; a seal then holds three connections in all, for a role with a
tight CONNECTION LIMIT.""",
    )
    digest_file: Path | None = setting(
        None,
        kind=Path,
        optional=True,
        doc="""Append each new block's digest (one JSON line, as `audittrail digest` prints it)
to this file, for the integrity verification to compare. Keep it where
the database's administrators cannot write (another host, append-only storage):
it is what shows a rewrite of the whole ledger. Empty: digests are only logged.""",
    )

    def __post_init__(self) -> None:
        _validate(self, "ledger")


@dataclass(frozen=True, kw_only=True)
class RetentionSettings:
    """How long history is kept: off unless ``keep_days`` is set."""

    keep_days: int = setting(
        0,
        kind=int,
        minimum=0,
        doc="""Remove sealed versions and transactions older than this many days (prune), always
keeping each row's current version and the version its last_modified_at derives
from. 0: keep everything (prune refuses to run).""",
    )

    def __post_init__(self) -> None:
        _validate(self, "retention")

    @property
    def enabled(self) -> bool:
        return self.keep_days > 0


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    """One scheduled job: runs every ``interval_seconds`` or on a UTC ``cron``
    schedule (exactly one is set); a run later than ``misfire_grace_seconds`` is
    skipped. Each job's defaults are in :data:`JOB_DEFAULTS`."""

    name: str
    enabled: bool = setting(True, kind=bool, doc="false: the daemon never runs this job.")
    interval_seconds: int | None = setting(
        None, kind=int, optional=True, positive=True, seconds=True, doc="Run every N seconds."
    )
    cron: str | None = setting(
        None, kind=str, optional=True, check=_check_cron, doc="Run on this cron schedule (UTC)."
    )
    misfire_grace_seconds: int = setting(
        kind=int,
        positive=True,
        seconds=True,
        doc="A run that starts later than this (daemon busy or stopped) is skipped.",
    )

    def __post_init__(self) -> None:
        if self.name not in JOB_NAMES:
            raise ConfigError(f"job name must be one of {', '.join(JOB_NAMES)}, got: {self.name!r}")
        _validate(self, f"jobs.{self.name}")
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


JOB_DEFAULTS: Mapping[str, Mapping[str, object]] = {
    "sync": {"interval_seconds": 30, "misfire_grace_seconds": 30},
    "reconcile": {"cron": "0 3 * * *", "misfire_grace_seconds": 3600},
    "verify": {"interval_seconds": 3600, "misfire_grace_seconds": 300},
    "seal": {"interval_seconds": 300, "misfire_grace_seconds": 300},
    "prune": {"enabled": False, "cron": "30 3 * * *", "misfire_grace_seconds": 3600},
}
JOB_DOCS: Mapping[str, str] = {
    "sync": "Incremental: derive last_modified_at for rows changed since the last run.",
    "reconcile": "Full pass: re-derive every value, catching anything the incremental sync missed.",
    "verify": "Check that stored values match the derived ones and that change capture "
    "is complete; repairs nothing.",
    "seal": "Seal committed history into the ledger's hash-chained blocks and log each new "
    "digest (also appended to ledger.digest_file when set).",
    "prune": "Remove sealed history older than retention.keep_days, recorded in the ledger; "
    "off by default, and refused while retention.keep_days is 0.",
}

SECTIONS: Mapping[str, type] = {
    "database": DatabaseSettings,
    "service": ServiceSettings,
    "logging": LoggingSettings,
    "metrics": MetricsSettings,
    "ledger": LedgerSettings,
    "retention": RetentionSettings,
    **{f"jobs.{job}": JobSettings for job in JOB_NAMES},
}


def _declarations() -> tuple[dict[str, Key], dict[str, object]]:
    keys: dict[str, Key] = {}
    defaults: dict[str, object] = {}
    for section, cls in SECTIONS.items():
        job_defaults = JOB_DEFAULTS.get(section.removeprefix("jobs."), {})
        for spec in fields(cls):
            if "key" not in spec.metadata:
                continue
            name = f"{section}.{spec.name}"
            keys[name] = spec.metadata["key"]
            if spec.name in job_defaults:
                defaults[name] = job_defaults[spec.name]
            elif spec.default is not MISSING:
                defaults[name] = spec.default
            else:
                defaults[name] = None  # automatic: computed by load_settings
    return keys, defaults


KEYS, DEFAULTS = _declarations()
"""Every dotted key with its declaration, and its built-in default (None:
unset, or computed at load time when the key is ``automatic``)."""
