"""Times, zones and ids as typed on the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auditd.cli.arguments import check_time_range, parse_positive_id, parse_time
from auditd.errors import UsageError
from auditd.timeparse import check_positive_id, parse_zone, require_aware

BERLIN = parse_zone("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T09:30:00+01:00", datetime(2026, 11, 26, 8, 30, tzinfo=UTC)),
        ("2026-11-26T08:30Z", datetime(2026, 11, 26, 8, 30, tzinfo=UTC)),
        ("2026-11-26T08:30:00.250-05:00", datetime(2026, 11, 26, 13, 30, 0, 250000, tzinfo=UTC)),
        ("20261126T083000Z", datetime(2026, 11, 26, 8, 30, tzinfo=UTC)),
    ],
)
def test_times_with_an_offset_mean_that_instant_in_any_zone(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected
    assert parse_time(text, BERLIN) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-01T12:00", datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),  # summer, +02:00
        ("2026-12-01T12:00", datetime(2026, 12, 1, 11, 0, tzinfo=UTC)),  # winter, +01:00
        ("2026-12-01", datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),  # a date is its midnight
    ],
)
def test_local_times_are_read_in_the_given_zone(text: str, expected: datetime) -> None:
    assert parse_time(text, BERLIN) == expected


def test_a_local_time_skipped_by_a_clock_change_is_refused() -> None:
    with pytest.raises(UsageError, match="does not exist in Europe/Berlin"):
        parse_time("2026-03-29T02:30", BERLIN)


def test_a_local_time_repeated_by_a_clock_change_is_refused_naming_both_offsets() -> None:
    with pytest.raises(UsageError, match=r"ambiguous in Europe/Berlin .*\+02:00 and at \+01:00"):
        parse_time("2026-10-25T02:30", BERLIN)


def test_a_local_time_without_a_zone_is_refused() -> None:
    with pytest.raises(UsageError, match="--since: '2026-11-26T10:00' has no UTC offset"):
        parse_time("2026-11-26T10:00", option="--since")


@pytest.mark.parametrize("text", ["yesterday", "26.11.2026", "2026-13-01T00:00Z", ""])
def test_text_that_is_not_iso_8601_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not an ISO 8601 time"):
        parse_time(text, BERLIN)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_iana_zone_names_are_accepted(name: str) -> None:
    assert parse_zone(name).key == name


@pytest.mark.parametrize("name", ["Mars/Olympus", "CEST", "", " UTC", "../../etc/passwd", "/UTC"])
def test_anything_else_is_an_unknown_zone(name: str) -> None:
    with pytest.raises(UsageError, match="unknown time zone"):
        parse_zone(name)


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "abc", "", "\uff11", str(2**63)])
def test_ids_must_be_positive_integers(text: str) -> None:
    with pytest.raises(UsageError, match="must be a positive integer"):
        parse_positive_id(text)


def test_valid_ids_are_accepted_as_text_and_as_integers() -> None:
    assert parse_positive_id(" 42 ") == 42
    assert check_positive_id(2**63 - 1) == 2**63 - 1
    for value in (0, -3, True, 2**63, "7"):
        with pytest.raises(UsageError):
            check_positive_id(value)  # type: ignore[arg-type]


def test_a_range_must_end_after_it_starts() -> None:
    start = datetime(2026, 11, 26, tzinfo=UTC)
    check_time_range(start, None)
    check_time_range(None, start)
    for until in (start, datetime(2026, 11, 25, tzinfo=UTC)):
        with pytest.raises(UsageError, match="is not after --since"):
            check_time_range(start, until)


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00+05:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00Z"]
)
def test_times_at_the_ends_of_the_calendar_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is outside the supported range"):
        parse_time(text)


def test_the_api_refuses_an_aware_time_at_the_ends_of_the_calendar() -> None:
    with pytest.raises(UsageError, match="is outside the supported range"):
        require_aware(datetime.fromisoformat("0001-01-01T00:30+01:00"), "since")
