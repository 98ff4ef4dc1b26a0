"""Rendering: escaping of stored data, formats, time zones, charts."""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from auditd.cli.chart import (
    Bar,
    bucket_counts,
    bucket_for,
    check_chart_path,
    render_svg,
    write_chart,
)
from auditd.cli.render import Renderer, default_format, escape, write_changes
from auditd.errors import UsageError
from auditd.history.records import Change, FieldChange, ReportRow, SpeakerRef

HOSTILE = "Red \x1b[31mALERT\x1b[0m \x9b2J\u202etxt.exe\\n\x7f\ttab\nnewline"
ISSUED = datetime(2026, 11, 26, 8, 30, 15, 123456, tzinfo=UTC)


def a_change(title: str = HOSTILE) -> Change:
    return Change(
        model="session",
        row_id=5,
        transaction_id=77,
        issued_at=ISSUED,
        actor="mallory\x1b]0;owned\x07",
        origin="sql",
        reason=None,
        remote_addr=None,
        application=None,
        db_role=None,
        client_addr=None,
        operation="update",
        event_id=1,
        fields=(
            FieldChange(field="title", old="Plain", new=title),
            FieldChange(field="starts_at", old=None, new=datetime(2027, 3, 12, 9, 0, tzinfo=UTC)),
            FieldChange(field="speakers", added=(SpeakerRef(id=2, name="Grace"),)),
        ),
    )


def render(fmt: str, zone: str = "UTC", change: Change | None = None) -> str:
    out = io.StringIO()
    write_changes(Renderer(out, fmt, ZoneInfo(zone)), [change or a_change()], with_row=True)
    return out.getvalue()


def test_escape_makes_control_characters_and_backslashes_visible() -> None:
    assert escape(HOSTILE) == (
        "Red \\x1b[31mALERT\\x1b[0m \\x9b2J\\u202etxt.exe\\\\n\\x7f\\ttab\\nnewline"
    )


def test_escape_leaves_ordinary_text_alone() -> None:
    text = "Café Straße 東京 🎉 — naïve"
    assert escape(text) == text


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_table_and_csv_never_print_raw_control_characters(fmt: str) -> None:
    out = render(fmt)
    raw = [c for c in out if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    assert raw == [] and "\u202e" not in out
    assert "Red \\x1b[31mALERT" in out
    assert "mallory\\x1b]0;owned\\x07" in out
    assert out.count("\n") == len(out.splitlines())  # one line per row: no embedded newlines


def test_json_escapes_control_characters_but_round_trips_the_data() -> None:
    out = render("json")
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out
    document = json.loads(out)
    assert document[0]["fields"][0] == {
        "field": "title", "old": "Plain", "new": HOSTILE, "added": [], "removed": [],
    }  # fmt: skip
    assert document[0]["fields"][2]["added"] == [{"id": 2, "name": "Grace"}]


def test_jsonl_is_one_object_per_line_with_documented_names() -> None:
    lines = render("jsonl").splitlines()
    assert len(lines) == 1
    assert list(json.loads(lines[0])) == [
        "model", "row_id", "transaction_id", "issued_at", "actor", "origin", "reason",
        "remote_addr", "application", "db_role", "client_addr", "operation", "event_id",
        "fields",
    ]  # fmt: skip


def test_csv_has_one_row_per_field_change() -> None:
    rows = list(csv.DictReader(io.StringIO(render("csv"))))
    assert [(r["field"], r["old"], r["new"]) for r in rows] == [
        ("title", "Plain", escape(HOSTILE)),
        ("starts_at", "", "2027-03-12T09:00:00+00:00"),
        ("speakers", "", "added: Grace (#2)"),
    ]
    assert rows[0]["issued_at"] == "2026-11-26T08:30:15.123456+00:00"


def test_times_are_shown_with_an_offset_in_the_display_zone() -> None:
    document = json.loads(render("json", zone="America/New_York"))[0]
    assert document["issued_at"] == "2026-11-26T03:30:15.123456-05:00"
    assert document["fields"][1]["new"] == "2027-03-12T04:00:00-05:00"
    table = render("table", zone="Asia/Kolkata")
    assert "2026-11-26T14:00:15+05:30" in table


def test_table_cells_are_clipped_and_continuation_lines_blank_the_change() -> None:
    lines = render("table", change=a_change(title="x" * 200)).splitlines()
    header = ["TX", "TIME", "MODEL", "ID", "ACTOR", "ORIGIN", "OPERATION", "FIELD", "OLD", "NEW"]
    assert lines[0].split() == [*header, "REASON", "CLIENT"]
    assert "x" * 79 + "…" in lines[1] and "x" * 80 not in lines[1]
    assert lines[2].lstrip().startswith("starts_at") and not lines[2].startswith("77")


def test_table_is_the_default_on_a_terminal_and_jsonl_otherwise() -> None:
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        assert default_format(terminal) == "table"
    os.close(primary)
    assert default_format(io.StringIO()) == "jsonl"


def test_the_chart_is_an_svg_bar_per_day_including_empty_days() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [ReportRow(key="2026-11-02", changes=12), ReportRow(key="2026-11-04", changes=3)]
    bars = bucket_counts(rows, since, since + timedelta(days=5), ZoneInfo("UTC"), "day")
    assert [(b.start, b.changes) for b in bars] == [
        (date(2026, 11, 1), 0), (date(2026, 11, 2), 12), (date(2026, 11, 3), 0),
        (date(2026, 11, 4), 3), (date(2026, 11, 5), 0),
    ]  # fmt: skip
    root = ET.fromstring(render_svg(bars, "day", "Changes <&> per day"))  # noqa: S314 (our own output)
    drawn = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "bar"]
    assert [int(b.get("data-changes") or -1) for b in drawn] == [0, 12, 0, 3, 0]
    heights = [float(b.get("height") or 0) for b in drawn]
    assert heights[1] == max(heights) and heights[0] == 0 and 0 < heights[3] < heights[1]


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(1, "day"), (123, "day"), (124, "week"), (3 * 366, "week"), (1099, "month"),
     (20 * 366, "month"), (20 * 366 + 1, "year"), (2_000_000, "year")],
)  # fmt: skip
def test_the_chart_bucket_follows_the_length_of_the_range(days: int, bucket: str) -> None:
    since = datetime(1990, 1, 1, tzinfo=UTC)
    assert bucket_for(since, since + timedelta(days=days), ZoneInfo("UTC")) == bucket


def test_week_and_month_buckets_add_up_the_days_and_cover_the_range() -> None:
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    days = [("2026-01-01", 2), ("2026-01-04", 3), ("2026-01-05", 4), ("2026-02-28", 1)]
    rows = [ReportRow(key=k, changes=n) for k, n in days]
    weeks = bucket_counts(rows, since, until, ZoneInfo("UTC"), "week")
    assert weeks[0].start == date(2025, 12, 29) and weeks[0].changes == 5  # Monday to Sunday
    assert weeks[1].start == date(2026, 1, 5) and weeks[1].changes == 4
    assert weeks[-1].start == date(2026, 2, 23) and len(weeks) == 9
    months = bucket_counts(rows, since, until, ZoneInfo("UTC"), "month")
    assert [(m.start, m.changes) for m in months] == [(date(2026, 1, 1), 9), (date(2026, 2, 1), 1)]
    calendar = bucket_counts([], datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC),
                             ZoneInfo("UTC"), "year")  # fmt: skip
    assert len(calendar) == 9999


def test_chart_files_must_be_svg_in_an_existing_folder(tmp_path: Path) -> None:
    assert check_chart_path(str(tmp_path / "c.SVG")) == tmp_path / "c.SVG"
    with pytest.raises(UsageError, match=r"unsupported chart format '\.png'"):
        check_chart_path(str(tmp_path / "c.png"))
    with pytest.raises(UsageError, match="does not exist"):
        check_chart_path(str(tmp_path / "missing" / "c.svg"))


def test_a_chart_that_cannot_be_written_is_a_usage_error_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    taken = tmp_path / "taken.svg"
    taken.mkdir()
    with pytest.raises(UsageError, match="cannot write it"):
        write_chart(taken, [Bar(date(2026, 11, 26), 3)], "day", "title")
    assert [p.name for p in tmp_path.iterdir()] == ["taken.svg"]
