"""The whole configuration, loaded once at start (and again on SIGHUP).

Precedence, lowest first: built-in defaults, the TOML file (``config_path`` or
``$AUDITD_CONFIG``), ``AUDITD_*`` environment variables, explicit overrides (the
command-line flags). Every mistake is a one-line :class:`~auditd.errors.ConfigError`
naming the key. The keys themselves are declared in :mod:`.sections`. The
database password (in the URL or in ``password_file``) never appears in
``repr``, ``str``, error messages or :func:`render_settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy.engine import URL

from auditd.config import parse
from auditd.config.sections import (
    DEFAULTS,
    JOB_NAMES,
    KEYS,
    DatabaseSettings,
    JobSettings,
    LedgerSettings,
    LoggingSettings,
    MetricsSettings,
    RetentionSettings,
    ServiceSettings,
)
from auditd.errors import ConfigError

__all__ = ["Settings", "load_settings", "render_settings"]

_DATABASE_FILE_NAME = "audittrail.db"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The whole configuration. ``jobs`` is read-only and keyed by job name
    (sync, reconcile, verify, seal, prune); ``sources`` lists where values came from, lowest
    precedence first."""

    database: DatabaseSettings
    service: ServiceSettings
    logging: LoggingSettings
    jobs: Mapping[str, JobSettings]
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # Provenance, not configuration: the same values from another source compare equal.
    sources: tuple[str, ...] = field(default=("defaults",), compare=False)

    def __post_init__(self) -> None:
        if sorted(self.jobs) != sorted(JOB_NAMES) or any(
            job.name != name for name, job in self.jobs.items()
        ):
            raise ConfigError(
                f"jobs must map each of {', '.join(JOB_NAMES)} to its JobSettings, "
                f"got: {', '.join(self.jobs)}"
            )
        if self.jobs["prune"].enabled and not self.retention.enabled:
            raise ConfigError(
                "jobs.prune is enabled but retention.keep_days is 0 (keep everything)",
                "set retention.keep_days to the days of history to keep, or disable jobs.prune",
            )
        object.__setattr__(self, "jobs", MappingProxyType(dict(self.jobs)))
        object.__setattr__(self, "sources", tuple(self.sources))

    def sections(self) -> dict[str, Any]:
        """Each section's name (``jobs.sync`` for a job) and its settings object."""
        return {
            "database": self.database,
            "service": self.service,
            "logging": self.logging,
            "metrics": self.metrics,
            "ledger": self.ledger,
            "retention": self.retention,
            **{f"jobs.{name}": job for name, job in self.jobs.items()},
        }


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

    Raises ConfigError for a missing, unreadable, oversized or non-UTF-8 file,
    malformed TOML, an unknown section, key, ``AUDITD_*`` variable or override, a
    value of the wrong type or out of range, a cron schedule that never fires, a
    password file that cannot be read, or an unsupported database URL.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    values = dict(DEFAULTS)
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
        metrics=MetricsSettings(**section("metrics")),
        ledger=LedgerSettings(**section("ledger")),
        retention=RetentionSettings(**section("retention")),
        jobs={job: JobSettings(name=job, **section(f"jobs.{job}")) for job in JOB_NAMES},
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
    for prefix, table in settings.sections().items():
        lines += ["", f"[{prefix}]"]
        for spec in fields(table):
            key = f"{prefix}.{spec.name}"
            value = getattr(table, spec.name)
            if key == "database.url":
                value = settings.database.masked_url()
            if key not in KEYS or (value is None and key.startswith("jobs.")):
                continue
            lines.append(f"{spec.name} = {parse.toml_value('' if value is None else value)}")
    return "\n".join(lines) + "\n"
