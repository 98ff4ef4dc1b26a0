"""How a configuration key is declared, and the checks every declaration implies.

A settings dataclass declares each of its fields with :func:`setting`: the
type, default, range, choices and documentation of one key, in one place.
Everything else is derived from those declarations: parsing of the TOML file,
the environment and flags (:mod:`.parse`), validation on construction, the
``AUDITD_*`` variable names, ``check-config`` and the documented TOML files
(:mod:`.reference`).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditd.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "MAX_SECONDS",
    "Key",
    "check_value",
    "did_you_mean",
    "env_variable",
    "setting",
]

ENV_PREFIX = "AUDITD_"
# Every duration is at most this: PostgreSQL takes timeouts up to 2**31 - 1 ms
# (24.8 days), and no interval or grace time needs more.
MAX_SECONDS = 24 * 86_400

_TYPE_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path string",
}

Check = Callable[[str, Any], Any]
"""A key's own check: (dotted key, typed value) -> normalised value, or ConfigError."""


@dataclass(frozen=True, kw_only=True)
class Key:
    """The declaration of one configuration key.

    ``kind`` is the value's type. Numbers are checked against ``minimum``
    (``positive``: strictly above it) and ``maximum``; a ``seconds`` key is
    also capped at :data:`MAX_SECONDS`. ``choices`` lists the accepted words
    (case-insensitive, stored lower-case). ``automatic`` documents a default
    computed at load time (the empty string selects it); ``optional`` keys may
    be unset. ``check`` runs last, on the typed value. ``doc`` becomes the
    comment above the key in the documented TOML.
    """

    kind: type
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    seconds: bool = False
    choices: tuple[str, ...] = ()
    automatic: str | None = None
    optional: bool = False
    check: Check | None = None

    def type_name(self) -> str:
        return _TYPE_NAMES[self.kind]


_UNSET: Any = object()


def setting(default: Any = _UNSET, **declaration: Any) -> Any:
    """A dataclass field declaring one key (see :class:`Key` for the arguments).

    Without ``default`` the field is required: its value is computed at load
    time (``automatic``) or given per instance (the jobs' schedules).
    """
    metadata = {"key": Key(**declaration)}
    if default is _UNSET:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def env_variable(key: str) -> str:
    """The environment variable of a dotted key (``service.batch_size`` ->
    ``AUDITD_SERVICE_BATCH_SIZE``)."""
    return ENV_PREFIX + key.upper().replace(".", "_")


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidates to a misspelt name, or None."""
    matches = difflib.get_close_matches(name, list(candidates), n=3)
    return f"did you mean {' or '.join(matches)}?" if matches else None


def check_value(name: str, key: Key, value: Any, shown: Callable[[Any], str] = repr) -> Any:
    """Return ``value`` checked against ``key`` and normalised (absolute paths,
    lower-case choices, int -> float); raise ConfigError naming ``name``.

    ``shown`` renders a rejected value in the message (a URL is masked).
    """
    if value is None and key.optional:
        return None
    if key.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if key.kind is Path and isinstance(value, str) and value:
        value = Path(value)
    if not isinstance(value, key.kind) or (key.kind is not bool and isinstance(value, bool)):
        rendered = shown(str(value) if isinstance(value, Path) else value)
        raise ConfigError(f"{name} must be {key.type_name()}, got: {rendered}")
    if isinstance(value, Path):
        value = Path(os.path.abspath(value))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(name, key, value)
    elif isinstance(value, str) and key.choices:
        if value.lower() not in key.choices:
            raise ConfigError(f"{name} must be one of {', '.join(key.choices)}, got: {value!r}")
        value = value.lower()
    return key.check(name, value) if key.check is not None else value


def _check_number(name: str, key: Key, value: float) -> None:
    noun = "integer" if isinstance(value, int) else "number"
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got: {value}")
    if key.positive and value <= 0:
        raise ConfigError(f"{name} must be a positive {noun}, got: {value}")
    low, high = key.minimum, key.maximum
    if low is not None and high is not None and not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got: {value}")
    if low is not None and value < low:
        raise ConfigError(f"{name} must be at least {low:g}, got: {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be at most {high:g}, got: {value}")
    if key.seconds and value > MAX_SECONDS:
        raise ConfigError(f"{name} must be at most {MAX_SECONDS} seconds (24 days), got: {value}")
