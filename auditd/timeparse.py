"""Times, time zones and ids as the API accepts them, checked strictly.

Times are aware datetimes within the calendar's safe range, zones are IANA
names, ids are positive 64-bit integers. Text as people type it on the
command line is parsed in :mod:`auditd.cli.arguments`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditd.errors import UsageError

MAX_ID = 2**63 - 1


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``, ``UTC``).

    Raises :class:`UsageError` for anything the tz database does not know.
    """
    hint = "use an IANA name such as UTC, Europe/Berlin or America/New_York"
    if not name or name != name.strip() or name.startswith("/") or ".." in name:
        raise UsageError(f"unknown time zone {name!r}", hint)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"unknown time zone {name!r}", hint) from None


# A day inside the ends of datetime's calendar, so that the instant can be
# shown in any zone (offsets reach +-26 hours) without overflowing.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def in_utc(value: datetime, shown: str) -> datetime:
    """The aware ``value`` in UTC; :class:`UsageError` near the calendar's ends."""
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not _EARLIEST <= instant <= _LATEST:
        raise UsageError(
            f"{shown} is outside the supported range",
            f"give a time between {_EARLIEST.date()} and {_LATEST.date()}",
        )
    return instant


def require_aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC; :class:`UsageError` if it is not a datetime or is naive."""
    if not isinstance(value, datetime):
        raise UsageError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(f"{name} must be timezone-aware, got {value.isoformat()}")
    return in_utc(value, f"{name} {value.isoformat()}")


def check_range(since: datetime | None, until: datetime | None) -> None:
    """:class:`UsageError` unless ``until`` is after ``since`` (when both are given)."""
    if since is not None and until is not None and until <= since:
        raise UsageError(
            f"until ({until.isoformat()}) is not after since ({since.isoformat()})",
            "the range is [since, until)",
        )


def check_positive_id(value: int, *, what: str = "id") -> int:
    """``value`` if it is a positive integer id; :class:`UsageError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
    return value
