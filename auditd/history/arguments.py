"""Checks of the history API's arguments that are not times, zones or ids.

A reporting script that passes a wrong type or a string the database cannot
store (a NUL character) gets the project's :class:`~auditd.errors.UsageError`,
like a command-line user, never a driver's ``ValueError`` or a ``TypeError``
from deep inside a query.
"""

from __future__ import annotations

from typing import Any

from auditd.errors import UsageError
from auditd.timeparse import MAX_ID


def check_text(value: Any, what: str) -> str:
    """``value`` if it is a non-empty string without NUL characters."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text, got {type(value).__name__}")
    if not value:
        raise UsageError(f"{what} must not be empty")
    if "\x00" in value:
        raise UsageError(f"{what} must not contain a NUL character")
    return value


def check_flag(value: Any, what: str) -> bool:
    """``value`` if it is a bool (not merely truthy: ``"no"`` is a mistake)."""
    if not isinstance(value, bool):
        raise UsageError(f"{what} must be True or False, got {value!r}")
    return value


def check_cursor(value: Any) -> int:
    """A feed cursor: 0 (from the beginning) or a transaction id."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise UsageError(
            f"after_transaction must be 0 or a positive transaction id, got {value!r}",
            "0 starts from the beginning",
        )
    return value


def check_limit(value: Any, maximum: int) -> int:
    """A page size: how many transactions a page holds, 1 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise UsageError(f"limit must be between 1 and {maximum} transactions, got {value!r}")
    return value
