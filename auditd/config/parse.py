"""The three input layers of the configuration: TOML file, ``AUDITD_*`` environment,
explicit overrides (the command-line flags).

Private: callers import :mod:`auditd.config`. Each layer is read into a
``{dotted key: value}`` dict and checked against the declarations of
:mod:`.sections`. Every mistake is a one-line :class:`ConfigError` naming the
key and where the value came from.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from auditd.config.keys import ENV_PREFIX, check_value, did_you_mean, env_variable
from auditd.config.sections import BATCH_SIZE_RANGE, JOB_NAMES, KEYS, shown_value
from auditd.errors import ConfigError

__all__ = [
    "BATCH_SIZE_RANGE",
    "CONFIG_FILE_VARIABLE",
    "MAX_CONFIG_BYTES",
    "TOP_SECTIONS",
    "apply_layer",
    "read_env_layer",
    "read_file_layer",
    "read_override_layer",
    "toml_value",
]

CONFIG_FILE_VARIABLE = "AUDITD_CONFIG"
TOP_SECTIONS = tuple(dict.fromkeys(key.split(".", 1)[0] for key in KEYS))
# A configuration file is a few kilobytes; anything far larger is a mistake
# (a log, a database, /dev/zero) that must not be read into memory.
MAX_CONFIG_BYTES = 1024 * 1024
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _unset_when_empty(key: str) -> bool:
    """``""`` means "not set": the automatic default, or none for an optional key."""
    declared = KEYS[key]
    return declared.automatic is not None or declared.optional


def _parse_text(key: str, text: str) -> object:
    """Turn an environment/override string into the key's type; a bad string is a type error."""
    kind = KEYS[key].kind
    stripped = text.strip()
    try:
        if kind is bool:
            return _BOOL_WORDS[stripped.lower()]
        if kind is int:
            return int(stripped)
        if kind is float:
            return float(stripped)
    except (KeyError, ValueError):
        expected = "true/false/1/0/yes/no" if kind is bool else KEYS[key].type_name()
        raise ConfigError(f"{key} must be {expected}, got: {text!r}") from None
    return text


def convert_layer(
    raw: Mapping[str, object], *, from_text: bool, origin: Callable[[str], str]
) -> dict[str, object]:
    """Return one layer's values checked; ``None`` marks "not set".

    ``from_text``: strings are parsed to the key's type (environment, command line).
    ``origin(key)`` says where a value came from and becomes the error's hint.
    Raises ConfigError for a bad value or a job given both interval_seconds and cron.
    """
    layer: dict[str, object] = {}
    for key, value in raw.items():
        try:
            if value == "" and _unset_when_empty(key):
                layer[key] = None
                continue
            if from_text and isinstance(value, str):
                value = _parse_text(key, value)
            layer[key] = check_value(key, KEYS[key], value, partial(shown_value, key))
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
    schedule kind (interval or cron) from the layers below; an empty one unsets
    only itself."""
    for job in JOB_NAMES:
        if layer.get(f"jobs.{job}.interval_seconds") is not None:
            values[f"jobs.{job}.cron"] = None
        if layer.get(f"jobs.{job}.cron") is not None:
            values[f"jobs.{job}.interval_seconds"] = None
    values.update(layer)


def _read_config_text(path: Path) -> str:
    """The text of a configuration file: a regular file, not too large, UTF-8."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ConfigError(f"config file {path} is {kind}", "give the path of a TOML file")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB",
            "is this the right file?",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"byte 0x{data[exc.start]:02x} at line {line} is not UTF-8"
    raise ConfigError(f"config file {path} is not UTF-8 text: {problem}")


def read_file_layer(path: Path) -> dict[str, object]:
    """Return the checked values of a TOML config file.

    Raises ConfigError if the file is missing, unreadable, not a regular file,
    larger than :data:`MAX_CONFIG_BYTES`, not UTF-8, not TOML (with the line),
    has an unknown section or key, or holds a bad value.
    """
    text = _read_config_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    raw: dict[str, object] = {}
    for section, table in data.items():
        if section not in TOP_SECTIONS and not isinstance(table, dict):
            leaf_keys = {key.rsplit(".", 1)[1]: key for key in KEYS}
            close = [leaf_keys[name] for name in difflib.get_close_matches(section, leaf_keys)]
            raise ConfigError(
                f"unknown top-level key {section!r} in {path}; settings belong in sections: "
                + ", ".join(TOP_SECTIONS),
                f"did you mean {' or '.join(close)}?" if close else None,
            )
        if section not in TOP_SECTIONS:
            raise ConfigError(
                f"unknown section [{section}] in {path}; valid sections: {', '.join(TOP_SECTIONS)}",
                did_you_mean(section, TOP_SECTIONS),
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
    valid = [key.removeprefix(prefix + ".") for key in KEYS if key.startswith(prefix + ".")]
    for name, value in table.items():
        if name not in valid:
            raise ConfigError(
                f"unknown key {name!r} in [{prefix}] of {path}; valid keys: {', '.join(valid)}",
                did_you_mean(name, valid),
            )
        raw[f"{prefix}.{name}"] = value


def read_env_layer(environ: Mapping[str, str]) -> dict[str, object]:
    """Return the checked values of the ``AUDITD_*`` variables in ``environ``.

    ``AUDITD_CONFIG`` (the file selector) is skipped; any other ``AUDITD_*`` name
    that matches no key is a ConfigError listing close matches.
    """
    keys_by_variable = {env_variable(key): key for key in KEYS}
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
    """Return checked explicit overrides (dotted keys; ``None`` = flag not given).

    Strings are parsed like environment values. Unknown keys are a ConfigError.
    """
    for key in overrides:
        if key not in KEYS:
            raise ConfigError(f"unknown setting {key!r}", did_you_mean(key, KEYS))
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
