"""Standard 5-field crontab expressions as APScheduler 3 triggers, in UTC.

APScheduler 3 numbers weekdays from Monday = 0, crontab from Sunday = 0 (and
7). The day-of-week field is therefore expanded into the set of days it
selects and handed over as day names, which mean the same to both. This
translation is also what validates a configured expression, so whatever the
configuration accepts, the daemon can schedule; an expression that selects
no date at all (``0 3 30 2 *``) is refused rather than silently never run.

As in APScheduler, a day-of-month and a day-of-week that are both restricted
must both match (``0 3 1 * mon``: a 1st that is a Monday), whereas Vixie cron
runs when either matches.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token.lower() in _WEEKDAYS:
        return _WEEKDAYS.index(token.lower())
    raise ValueError(f"unknown day of week {token!r}: use 0-7 (0 and 7 are Sunday) or sun-sat")


def _weekdays(field: str) -> str:
    """A crontab day-of-week field as a list of day names."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"step {step!r} in {part!r} is not a positive number")
        first, _, last = span.partition("-")
        low, high = (0, 6) if span == "*" else (_weekday(first), _weekday(last or first))
        if step and not last and span != "*":
            high = 6  # "n/step" means from n to the end of the week
        if low > high:
            raise ValueError(f"range {span!r} runs backwards")
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def crontab_trigger(expression: str) -> CronTrigger:
    """A UTC trigger for ``expression`` (Sunday = 0 or 7).

    Raises ValueError, with the reason, for anything that is not a plain
    5-field crontab expression, and for one that never fires.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    day, month = fields[2], fields[3]
    fields[4] = _weekdays(fields[4])
    trigger = CronTrigger.from_crontab(" ".join(fields), timezone="UTC")
    # Weekdays cycle through every date over the years, so only a day of the
    # month that no selected month has can make the expression never fire.
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(f"it never fires: no month {month!r} has a day {day!r}")
    return trigger
