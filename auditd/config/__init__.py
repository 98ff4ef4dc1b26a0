"""Configuration: frozen, validated settings from defaults, TOML, environment and flags.

* :mod:`.sections` — every key, declared once: type, default, range, choices, documentation;
* :mod:`.settings` — the whole configuration, :func:`load_settings`, :func:`render_settings`;
* :mod:`.parse` — the three input layers (TOML file, environment, overrides);
* :mod:`.reference` — the documented TOML files, generated from the declarations;
* :mod:`.keys`, :mod:`.database_url`, :mod:`.listen`, :mod:`.crontab` — what one key's
  value may be.
"""

from auditd.config.sections import (
    DatabaseSettings,
    JobSettings,
    LedgerSettings,
    LoggingSettings,
    MetricsSettings,
    RetentionSettings,
    ServiceSettings,
)
from auditd.config.settings import Settings, load_settings, render_settings

__all__ = [
    "DatabaseSettings",
    "JobSettings",
    "LedgerSettings",
    "LoggingSettings",
    "MetricsSettings",
    "RetentionSettings",
    "ServiceSettings",
    "Settings",
    "load_settings",
    "render_settings",
]
