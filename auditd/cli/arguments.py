"""Times, time zones and ids as people type them on the command line.

A time is ISO 8601 with an offset (``2026-11-26T09:30:00+01:00``, ``...Z``),
or a local time (``2026-11-26T09:30``, ``2026-11-26``) in the zone given
with ``--tz``. A local time that does not exist (skipped by a DST change)
or exists twice (repeated by one) is refused rather than guessed: an audit
query that is silently an hour off is worse than an error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from auditd.errors import UsageError
from auditd.timeparse import MAX_ID, in_utc


def _offset(value: timedelta | None) -> str:
    total = int((value or timedelta()).total_seconds())
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def localize(local: datetime, zone: ZoneInfo, text: str | None = None) -> datetime:
    """Attach ``zone`` to the naive ``local`` time, refusing a non-existent or
    ambiguous one; returns the aware UTC instant."""
    shown = text or local.isoformat()
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    round_trip = in_utc(first, f"local time {shown}").astimezone(zone).replace(tzinfo=None)
    if round_trip != local:
        raise UsageError(
            f"local time {shown} does not exist in {zone.key} (skipped by a clock change)",
            "give a time with an offset, or a time outside the gap",
        )
    if first.utcoffset() != second.utcoffset():
        raise UsageError(
            f"local time {shown} is ambiguous in {zone.key} (it occurs at "
            f"{_offset(first.utcoffset())} and at {_offset(second.utcoffset())})",
            f"give the offset, e.g. {local.isoformat()}{_offset(first.utcoffset())}",
        )
    return first.astimezone(UTC)


def parse_time(text: str, zone: ZoneInfo | None = None, *, option: str = "time") -> datetime:
    """Parse an ISO 8601 time into an aware UTC datetime.

    With an offset (or ``Z``) the zone is irrelevant. Without one, the time
    (or a bare date, meaning its midnight) is local to ``zone``; with no
    zone that is a :class:`UsageError`, as are malformed text and local times
    that do not exist or are ambiguous in ``zone``. ``option`` names the
    argument in messages.
    """
    stripped = text.strip()
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not an ISO 8601 time",
            "use e.g. 2026-11-26T09:30:00+01:00, 2026-11-26T08:30Z, or a local time with --tz",
        ) from None
    if parsed.tzinfo is not None:
        return in_utc(parsed, f"{option}: {text!r}")
    if zone is None:
        raise UsageError(
            f"{option}: {text!r} has no UTC offset",
            f"add an offset, e.g. {parsed.isoformat()}+00:00, or pass --tz ZONE",
        )
    return in_utc(localize(parsed, zone, stripped), f"{option}: {text!r}")


def parse_positive_id(text: str, *, what: str = "id") -> int:
    """A positive integer id (at most 2**63 - 1) from text; :class:`UsageError` otherwise."""
    stripped = text.strip()
    if not stripped.isdigit() or not stripped.isascii():
        raise UsageError(f"{what} must be a positive integer, got {text!r}")
    value = int(stripped)
    if not 0 < value <= MAX_ID:
        raise UsageError(f"{what} must be a positive integer below 2**63, got {text!r}")
    return value


def check_time_range(since: datetime | None, until: datetime | None) -> None:
    """:class:`UsageError` unless ``--until`` is after ``--since`` (when both are given)."""
    if since is not None and until is not None and until <= since:
        raise UsageError(
            f"--until ({until.isoformat()}) is not after --since ({since.isoformat()})",
            "the range is [since, until)",
        )
