"""The documented TOML files, generated from the key declarations.

``config/audittrail.toml`` (every key with its default and meaning) and
``systemd/audittrail.toml.example`` (what production sets) are the output of
:func:`reference_toml` and :func:`production_example_toml`; a test keeps the
files equal to it. After changing a declaration, rewrite them with
``.venv/bin/python -m auditd.config.reference``.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

from auditd.config.keys import MAX_SECONDS, Key
from auditd.config.parse import CONFIG_FILE_VARIABLE, toml_value
from auditd.config.sections import DEFAULTS, JOB_DOCS, JOB_NAMES, KEYS

__all__ = ["production_example_toml", "reference_toml"]

_REFERENCE_HEADER = f"""\
# audittrail configuration.
#
# Every setting is listed with its built-in default, so this file changes nothing
# until you edit it. It is generated from the declarations in
# auditd/config/sections.py (python -m auditd.config.reference), and a test
# keeps the two equal. The daemon reads the file named by {CONFIG_FILE_VARIABLE}=PATH or
# given as the configuration file on the command line (before or after the
# command).
#
# Precedence, lowest first: built-in defaults, this file, environment variables,
# command-line flags. Each key has an environment variable: AUDITD_ + section and
# key in upper case, dots as underscores, e.g. service.batch_size is
# AUDITD_SERVICE_BATCH_SIZE and jobs.sync.interval_seconds is
# AUDITD_JOBS_SYNC_INTERVAL_SECONDS. Unknown keys and variables are errors.
# No *_seconds value may exceed {MAX_SECONDS} (24 days).
# `audittrail check-config` checks everything the daemon will read and prints
# the effective configuration.
#
# An empty string ("") for a key documented with "Empty:" means "not set".
"""

_JOBS_PREAMBLE = """\
# Scheduled jobs. Each runs either every interval_seconds or on a cron schedule:
# a standard 5-field crontab (minute hour day-of-month month day-of-week),
# evaluated in UTC; day-of-week is 0-7 (0 and 7 are Sunday) or sun-sat, with
# ranges, lists and steps. When day-of-month and day-of-week are both given,
# both must match (Vixie cron runs when either does); a schedule that never
# fires (0 3 30 2 *) is refused. Setting one of interval_seconds and cron here
# (or in the environment) replaces the other; setting both in one place is an
# error.
"""

_PRODUCTION_HEADER = """\
# /etc/audittrail/audittrail.toml: production configuration for audittrail.service.
#
# Only settings that matter in production are listed; config/audittrail.toml
# documents every key with its default. Generated from the declarations in
# auditd/config/sections.py (python -m auditd.config.reference). Unknown keys
# are errors. Check the result, with the unit's environment, with
#   sudo AUDITD_CONFIG=/etc/audittrail/audittrail.toml \\
#       AUDITD_DATABASE_PASSWORD_FILE=/etc/audittrail/database-password \\
#       /opt/audittrail/bin/audittrail check-config
# (AUDITD_* variables from /etc/audittrail/audittrail.env override this file).
"""

# What production sets differently from the defaults, and why.
_PRODUCTION_VALUES: Mapping[str, object] = {
    "database.url": "postgresql+psycopg2://audittrail@db.example/openevent",
}
_PRODUCTION_NOTES: Mapping[str, str] = {
    "database.url": "Production: PostgreSQL, without a password. The unit passes the password "
    "as a systemd credential (LoadCredential=database-password:/etc/audittrail/database-password) "
    "and points database.password_file at it with "
    "AUDITD_DATABASE_PASSWORD_FILE=%d/database-password, i.e. "
    "/run/credentials/audittrail.service/database-password; password_file is therefore not "
    "set here, and this file also works for audittrail run by hand.",
    "database.connect_timeout_seconds": "Fail fast on an unreachable server; the start-up "
    "retry below keeps trying.",
    "service.state_dir": "Production: $STATE_DIRECTORY, i.e. /var/lib/audittrail from "
    "StateDirectory=.",
    "service.shutdown_timeout_seconds": "Must stay below the unit's TimeoutStopSec=30, so "
    "that a stopping daemon exits on its own before systemd sends SIGKILL.",
    "service.startup_retry_give_up_seconds": "A positive give-up time exits with code 4, and "
    "systemd restarts the service after RestartSec=5.",
    "metrics.listen_address": 'Production: "127.0.0.1:9464" lets a Prometheus on this '
    "host scrape the daemon (docs/systemd.md); keep it on loopback unless the port is "
    "firewalled.",
}
_PRODUCTION_KEYS = (
    "database.url",
    "database.connect_timeout_seconds",
    "database.statement_timeout_seconds",
    "database.lock_timeout_seconds",
    "service.state_dir",
    "service.batch_size",
    "service.shutdown_timeout_seconds",
    "service.startup_retry_initial_seconds",
    "service.startup_retry_max_seconds",
    "service.startup_retry_give_up_seconds",
    "service.sync_on_change",
    "logging.level",
    "logging.format",
    "metrics.listen_address",
)


def _comment(text: str) -> list[str]:
    """``text`` as TOML comment lines: indented lines kept as they are (examples),
    the others flowed into paragraphs of at most 80 columns."""
    lines: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        wrapped = textwrap.wrap(" ".join(paragraph), width=78, break_on_hyphens=False)
        lines.extend(f"# {line}" for line in wrapped)
        paragraph.clear()

    for line in text.splitlines():
        if line.startswith(" "):
            flush()
            lines.append(f"# {line}")
        else:
            paragraph.append(line.strip())
    flush()
    return lines


def _key_lines(name: str, key: Key, value: object, note: str | None = None) -> list[str]:
    doc = key.doc
    if key.automatic is not None:
        doc += f"\nEmpty: {key.automatic}."
    if key.choices:
        doc += f" One of {', '.join(key.choices)}."
    if key.minimum is not None and key.maximum is not None:
        doc += f" {key.minimum:g} to {key.maximum:g}."
    lines = _comment(doc)
    if note is not None:
        lines += _comment(note)
    leaf = name.rsplit(".", 1)[1]
    return [*lines, f"{leaf} = {toml_value('' if value is None else value)}"]


def _sections(keys: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name in keys:
        grouped.setdefault(name.rsplit(".", 1)[0], []).append(name)
    return grouped


def reference_toml() -> str:
    """``config/audittrail.toml``: every key, its default and its documentation."""
    lines = [_REFERENCE_HEADER.rstrip("\n")]
    for section, names in _sections(KEYS).items():
        if section.startswith("jobs."):
            continue
        lines += ["", f"[{section}]"]
        for name in names:
            lines += _key_lines(name, KEYS[name], DEFAULTS[name])
    lines += ["", _JOBS_PREAMBLE.rstrip("\n")]
    for field_name in ("enabled", "interval_seconds", "cron", "misfire_grace_seconds"):
        lines += _comment(f"{field_name}: {KEYS[f'jobs.sync.{field_name}'].doc}")
    for job in JOB_NAMES:
        lines += ["", f"[jobs.{job}]", *_comment(JOB_DOCS[job])]
        for name in (key for key in KEYS if key.startswith(f"jobs.{job}.")):
            if DEFAULTS[name] is not None:
                lines.append(f"{name.rsplit('.', 1)[1]} = {toml_value(DEFAULTS[name])}")
    return "\n".join(lines) + "\n"


def production_example_toml() -> str:
    """``systemd/audittrail.toml.example``: the settings that matter in production."""
    lines = [_PRODUCTION_HEADER.rstrip("\n")]
    for section, names in _sections(_PRODUCTION_KEYS).items():
        lines += ["", f"[{section}]"]
        for name in names:
            value = _PRODUCTION_VALUES.get(name, DEFAULTS[name])
            lines += _key_lines(name, KEYS[name], value, _PRODUCTION_NOTES.get(name))
    return "\n".join(lines) + "\n"


FILES = {
    Path("config/audittrail.toml"): reference_toml,
    Path("systemd/audittrail.toml.example"): production_example_toml,
}


def main(root: Path) -> None:
    """Rewrite the documented TOML files under the repository ``root``."""
    for path, render in FILES.items():
        (root / path).write_text(render(), encoding="utf-8")
        print(f"wrote {root / path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
