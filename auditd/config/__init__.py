"""Configuration: frozen, validated settings from defaults, TOML, environment and flags.

* :mod:`.settings` — the settings objects and :func:`load_settings`;
* :mod:`.parse` — the keys, their types and the three input layers;
* :mod:`.crontab` — crontab expressions as the scheduler runs them.
"""

from auditd.config.settings import (
    DatabaseSettings,
    JobSettings,
    LoggingSettings,
    ServiceSettings,
    Settings,
    load_settings,
    render_settings,
)

__all__ = [
    "DatabaseSettings",
    "JobSettings",
    "LoggingSettings",
    "ServiceSettings",
    "Settings",
    "load_settings",
    "render_settings",
]
