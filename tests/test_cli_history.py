"""The history commands end to end: every command in every format, and every
input mistake, against a history built by real edits on both backends."""

from __future__ import annotations

import csv
import io
import json
import shlex
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from audit_names import transactions
from test_history_support import (
    RAW_SUBTITLE,
    RAW_TITLE,
    START,
    Scenario,
    run_cli,
    scenario_fixture,
)

from auditd.models import Session

FORMATS = ("table", "json", "jsonl", "csv")
UTC = ZoneInfo("UTC")


scenario = scenario_fixture("cli", feed=True)


def cli(scenario: Scenario, *args: str) -> str:
    result = run_cli(scenario.url, *args)
    assert (result.code, result.err) == (0, ""), result.err
    return result.out


# -- expected values, in each format's spelling ----------------------------------


def cell(fmt: str, value: Any, zone: ZoneInfo = UTC) -> Any:
    """How ``value`` must appear in ``fmt`` (documented in docs/api.md)."""
    if isinstance(value, tuple) and value and value[0] in ("added", "removed"):
        label, refs = value
        if fmt in ("json", "jsonl"):
            return [{"id": i, "name": n} for i, n in refs]
        return f"{label}: " + "; ".join(f"{n} (#{i})" for i, n in refs) if refs else ""
    if fmt in ("json", "jsonl"):
        return value.astimezone(zone).isoformat() if isinstance(value, datetime) else value
    if value is None:
        return "-" if fmt == "table" else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        spec = "seconds" if fmt == "table" else "auto"
        return value.astimezone(zone).isoformat(timespec=spec)
    escaped = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\x1b", "\\x1b")
    return escaped


def talk_history(s: Scenario) -> list[tuple[Any, ...]]:
    """(step, actor, origin, operation, field, old, new) of the talk, oldest first."""
    ids, names = s.ids, {"ada": "Ada Lovelace", "grace": "Grace Hopper", "linus": "Linus Torvalds"}
    with s.engine.connect() as connection:
        created = connection.execute(
            sa.select(Session.created_at).where(Session.id == ids["talk"])
        ).scalar_one()

    def speakers(added: list[str], removed: list[str]) -> tuple[Any, Any]:
        return (
            ("removed", [(ids[k], names[k]) for k in removed]),
            ("added", [(ids[k], names[k]) for k in added]),
        )

    create = ("create", "alice", "api", "insert")
    return [
        (*create, "title", None, "Audit trails"),
        (*create, "starts_at", None, START),
        (*create, "ends_at", None, START + timedelta(minutes=45)),
        (*create, "track_id", None, ids["track"]),
        (*create, "event_id", None, ids["event"]),
        (*create, "state", None, "pending"),
        (*create, "created_at", None, created),
        (*create, "is_mail_sent", None, False),
        (*create, "is_locked", None, False),
        (*create, "speakers", *speakers(["ada"], [])),
        ("cospeaker", "carol", "cli", "update", "speakers", *speakers(["grace"], [])),
        ("raw", s.sql_actor(), "sql", "update", "title", "Audit trails", RAW_TITLE),
        ("raw", s.sql_actor(), "sql", "update", "subtitle", None, RAW_SUBTITLE),
        ("swap", "dave", "api", "update", "state", "pending", "confirmed"),
        ("swap", "dave", "api", "update", "speakers", *speakers(["linus"], ["ada"])),
    ]


def expected_change_rows(s: Scenario, fmt: str, zone: ZoneInfo = UTC) -> list[tuple[Any, ...]]:
    return [
        (
            s.tx[step],
            cell(fmt, actor),
            origin,
            op,
            field,
            cell(fmt, old, zone),
            cell(fmt, new, zone),
        )
        for step, actor, origin, op, field, old, new in talk_history(s)
    ]


# -- reading each format back -------------------------------------------------------


def table_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """Cells of a fixed-width table, sliced at the header's column starts."""
    lines = text.splitlines()
    header = lines[0]
    names = header.split()
    starts = [
        header.index(name) if i == 0 else header.index("  " + name) + 2
        for i, name in enumerate(names)
    ]
    rows = []
    for line in lines[1:]:
        bounds = [*starts[1:], None]
        rows.append(
            {n.lower(): line[a:b].strip() for n, a, b in zip(names, starts, bounds, strict=True)}
        )
    return names, rows


def changes_from(fmt: str, out: str, *, row_id: int | None = None) -> list[tuple[Any, ...]]:
    """(tx, actor, origin, operation, field, old, new) rows of any format; with
    ``row_id``, only the rows of that row (formats that show row ids)."""
    rows: list[tuple[Any, ...]] = []
    if fmt in ("json", "jsonl"):
        changes = (
            json.loads(out) if fmt == "json" else [json.loads(line) for line in out.splitlines()]
        )
        if isinstance(changes, dict):
            changes = changes["changes"]
        changes = [c for c in changes if "next_after_transaction" not in c]  # the cursor line
        for c in changes:
            for f in c["fields"]:
                speakers = f["field"] == "speakers"
                old, new = (f["removed"], f["added"]) if speakers else (f["old"], f["new"])
                head = (c["transaction_id"], c["actor"], c["origin"], c["operation"])
                rows.append((c["row_id"], *head, f["field"], old, new))
    elif fmt == "csv":
        for r in csv.DictReader(io.StringIO(out)):
            head = (int(r["transaction_id"]), r["actor"], r["origin"], r["operation"])
            rows.append((int(r["row_id"]), *head, r["field"], r["old"], r["new"]))
    else:
        table = "\n".join(line for line in out.splitlines() if " transaction" not in line)
        head: tuple[Any, ...] = ()
        for r in table_rows(table)[1]:
            if r["tx"]:  # continuation lines of the same change leave these blank
                shown = int(r["id"]) if "id" in r else None
                head = (shown, int(r["tx"]), r["actor"], r["origin"], r["operation"])
            rows.append((*head, r["field"], r["old"], r["new"]))
    return [row[1:] for row in rows if row_id is None or row[0] == row_id]


# -- every command in every format --------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_history_prints_every_field_change_in_each_format(scenario: Scenario, fmt: str) -> None:
    talk = str(scenario.ids["talk"])
    out = cli(scenario, "history", "session", talk, "--order", "oldest", "--format", fmt)
    assert changes_from(fmt, out) == expected_change_rows(scenario, fmt)
    if fmt in ("table", "csv"):
        assert "\x1b" not in out and "Audit \\x1b[31mtrails\\x1b[0m" in out
    if fmt == "table":
        assert out.splitlines()[0].split() == [
            "TX", "TIME", "ACTOR", "ORIGIN", "OPERATION", "FIELD", "OLD", "NEW", "REASON", "CLIENT"
        ]  # fmt: skip
        assert "create the programme" in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_changes_prints_the_feed_in_each_format(scenario: Scenario, fmt: str) -> None:
    talk = scenario.ids["talk"]
    event = str(scenario.ids["event"])
    result = run_cli(
        scenario.url, "changes", "--model", "session", "--event-id", event, "--format", fmt
    )
    assert result.code == 0
    out = result.out
    assert changes_from(fmt, out, row_id=talk) == expected_change_rows(scenario, fmt)
    assert {r[0] for r in changes_from(fmt, out)} == {
        scenario.tx[s] for s in ("create", "move", "cospeaker", "raw", "swap", "delete", "revert")
    }
    if fmt == "json":
        document = json.loads(out)
        assert document["has_more"] is False
        assert document["last_transaction_id"] == scenario.tx["revert"]
        assert document["next_after_transaction"] >= scenario.tx["revert"]
        assert {c["row_id"] for c in document["changes"]} == {talk, scenario.ids["workshop"]}
    if fmt == "table":
        assert out.splitlines()[-1].startswith(
            "8 changes in 7 transactions; up to date; next: --after-transaction "
        )
    # Every format carries the cursor; csv on stderr, so that the CSV stays plain.
    cursors = {
        "json": lambda: json.loads(out),
        "jsonl": lambda: json.loads(out.splitlines()[-1]),
        "csv": lambda: dict(
            (k, json.loads(v)) for k, v in (p.split("=") for p in result.err.split()[1:])
        ),
        "table": lambda: {"next_after_transaction": int(out.split()[-1]), "has_more": False},
    }
    cursor = cursors[fmt]()
    assert cursor["has_more"] is False
    assert cursor["next_after_transaction"] >= scenario.tx["revert"]
    assert result.err == ("" if fmt != "csv" else result.err.splitlines()[0] + "\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_who_changed_prints_each_change_of_the_field(scenario: Scenario, fmt: str) -> None:
    workshop = str(scenario.ids["workshop"])
    out = cli(
        scenario,
        "who-changed",
        "session",
        workshop,
        "starts_at",
        "--format",
        fmt,
        "--tz",
        "Asia/Tokyo",
    )
    tokyo, tx = ZoneInfo("Asia/Tokyo"), scenario.tx
    ten, noon = START + timedelta(hours=1), START + timedelta(hours=3)
    # Newest first; the delete clears the last value, the revert's re-insert sets it again.
    steps = [
        ("revert", "erin", "revert", "insert", None, noon),
        ("delete", "alice", "api", "delete", noon, None),
        ("move", "bob", "api", "update", ten, noon),
        ("create", "alice", "api", "insert", None, ten),
    ]
    expected = [
        (tx[step], actor, origin, op, "starts_at", cell(fmt, old, tokyo), cell(fmt, new, tokyo))
        for step, actor, origin, op, old, new in steps
    ]
    assert changes_from(fmt, out) == expected
    assert "+09:00" in out and "+00:00" not in out
    if fmt == "table":
        _, rows = table_rows(out)
        assert rows[2]["time"] == scenario.at["move"].astimezone(tokyo).isoformat(
            timespec="seconds"
        )
        assert rows[2]["reason"] == "later slot"


@pytest.mark.parametrize("fmt", FORMATS)
def test_show_prints_the_row_as_it_was_in_each_format(scenario: Scenario, fmt: str) -> None:
    workshop = str(scenario.ids["workshop"])
    at = scenario.at["delete"].isoformat()
    out = cli(scenario, "show", "session", workshop, "--at", at, "--format", fmt)
    expected = {
        "title": "Time zones",
        "starts_at": START + timedelta(hours=3),
        "state": "accepted",
        "subtitle": None,
        "is_locked": False,
    }
    grace = [(scenario.ids["grace"], "Grace Hopper")]
    if fmt in ("json", "jsonl"):
        document = json.loads(out)
        assert len(out.splitlines()) == (1 if fmt == "jsonl" else len(out.splitlines()))
        assert document["deleted"] is True
        assert (document["transaction_id"], document["actor"]) == (scenario.tx["delete"], "alice")
        assert document["at"] == scenario.at["delete"].isoformat()
        assert {k: document["values"][k] for k in expected} == {
            k: cell(fmt, v) for k, v in expected.items()
        }
        assert document["speakers"] == [{"id": i, "name": n} for i, n in grace]
        return
    if fmt == "csv":
        values = {r["field"]: r["value"] for r in csv.DictReader(io.StringIO(out))}
    else:
        first, rest = out.split("\n", 1)
        delete = scenario.at["delete"].isoformat(timespec="seconds")
        # The database role that wrote it, as PostgreSQL recorded it.
        role = ", database role postgres" if scenario.backend == "postgresql" else ""
        assert first == (
            f"session {workshop} at {delete}: deleted; latest change: transaction"
            f" {scenario.tx['delete']}, {delete} by alice (api{role}): duplicate"
        )
        values = {r["field"]: r["value"] for r in table_rows(rest)[1]}
    assert {k: values[k] for k in expected} == {k: cell(fmt, v) for k, v in expected.items()}
    assert values["speakers"] == f"Grace Hopper (#{scenario.ids['grace']})"


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_prints_counts_in_each_format(scenario: Scenario, fmt: str) -> None:
    since = scenario.at["create"].isoformat()
    until = (scenario.at["other"] + timedelta(seconds=1)).isoformat()
    out = cli(
        scenario, "report", "--since", since, "--until", until, "--by", "model", "--format", fmt
    )
    expected = [("session", 8), ("speaker", 4), ("track", 3), ("event", 2)]
    if fmt == "json":
        document = json.loads(out)
        assert (document["by"], document["total"], document["zone"]) == ("model", 17, "UTC")
        assert [(r["key"], r["changes"]) for r in document["rows"]] == expected
    elif fmt == "jsonl":
        assert [json.loads(line) for line in out.splitlines()] == [
            {"by": "model", "key": k, "changes": n} for k, n in expected
        ]
    elif fmt == "csv":
        assert list(csv.reader(io.StringIO(out))) == [
            ["model", "changes"],
            *([k, str(n)] for k, n in expected),
        ]
    else:
        lines = out.splitlines()
        assert [line.split() for line in lines[:-1]] == [
            ["MODEL", "CHANGES"],
            *([k, str(n)] for k, n in expected),
        ]
        assert lines[-1].startswith("17 changes from ")


@pytest.mark.parametrize("fmt", FORMATS)
def test_revert_dry_run_prints_the_diff_in_each_format(scenario: Scenario, fmt: str) -> None:
    talk = str(scenario.ids["talk"])
    out = cli(
        scenario,
        "revert",
        "session",
        talk,
        "--to",
        str(scenario.tx["raw"]),
        "--dry-run",
        "--format",
        fmt,
    )
    expected = [("state", cell(fmt, "confirmed"), cell(fmt, "pending"))]
    ids = scenario.ids
    speakers = (
        cell(fmt, ("removed", [(ids["linus"], "Linus Torvalds")])),
        cell(fmt, ("added", [(ids["ada"], "Ada Lovelace")])),
    )
    expected.append(("speakers", *speakers))
    if fmt in ("json", "jsonl"):
        document = json.loads(out)
        assert (document["dry_run"], document["operation"], document["transaction_id"]) == (
            True,
            "update",
            None,
        )
        assert document["to_transaction"] == scenario.tx["raw"]
        rows = [
            (
                f["field"],
                *((f["removed"], f["added"]) if f["field"] == "speakers" else (f["old"], f["new"])),
            )
            for f in document["fields"]
        ]
    elif fmt == "csv":
        rows = [tuple(r) for r in list(csv.reader(io.StringIO(out)))[1:]]
    else:
        first, rest = out.split("\n", 1)
        target = f"session {talk} to transaction {scenario.tx['raw']}"
        assert first == f"revert {target} (dry run, nothing written): would update"
        rows = [(r["field"], r["old"], r["new"]) for r in table_rows(rest)[1]]
    assert rows == expected


# -- charts and mistakes ---------------------------------------------------------------


def chart_bars(path: Any) -> tuple[str | None, dict[str | None, int]]:
    """The bucket of an SVG chart and its bars' counts by start day."""
    root = ET.parse(path).getroot()  # noqa: S314 (our own output)
    bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "bar"]
    return root.get("data-bucket"), {
        b.get("data-start"): int(b.get("data-changes") or 0) for b in bars
    }


def test_report_writes_a_chart_of_changes_per_day(scenario: Scenario, tmp_path: Any) -> None:
    chart = tmp_path / "changes.svg"
    day = scenario.at["create"].date()
    since, until = (day - timedelta(days=2)).isoformat(), (day + timedelta(days=2)).isoformat()
    result = run_cli(
        scenario.url, "report", "--since", since, "--until", until, "--tz", "UTC",
        "--by", "actor", "--chart", str(chart), "--format", "jsonl",
    )  # fmt: skip
    assert result.code == 0
    # Where the chart went is said on stderr, so that stdout stays the report.
    assert result.err == f"chart of changes per day written to {chart.resolve()}\n"
    assert all(json.loads(line)["by"] == "actor" for line in result.out.splitlines())
    bucket, counts = chart_bars(chart)
    expected = {(day + timedelta(days=n)).isoformat(): 0 for n in range(-2, 2)}
    for step, n in STEP_CHANGES.items():
        expected[scenario.at[step].date().isoformat()] += n
    assert (bucket, counts) == ("day", expected)


def test_a_chart_of_decades_has_a_bar_per_year(scenario: Scenario, tmp_path: Any) -> None:
    chart = tmp_path / "decades.svg"
    year = scenario.at["create"].year
    since, until = f"{year - 25}-01-01T00:00Z", f"{year + 1}-01-01T00:00Z"
    result = run_cli(
        scenario.url, "report", "--since", since, "--until", until, "--chart", str(chart)
    )
    assert result.code == 0 and "changes per year" in result.err
    bucket, counts = chart_bars(chart)
    assert bucket == "year" and len(counts) == 26
    assert counts[f"{year}-01-01"] == sum(STEP_CHANGES.values())
    assert sum(counts.values()) == sum(STEP_CHANGES.values())


# Changes written by each step of the scenario.
STEP_CHANGES = {
    "create": 7, "move": 1, "cospeaker": 1, "raw": 1, "swap": 1, "tidy": 2, "delete": 1,
    "revert": 1, "other": 2,
}  # fmt: skip


BERLIN = "--tz Europe/Berlin"
MISTAKES = [
    ("history session 0", 2, "id must be a positive integer"),
    ("history session abc", 2, "id must be a positive integer"),
    ("history session -5", 2, "id must be a positive integer"),
    ("history talk 1", 2, "unknown model 'talk' (valid models: event, session, speaker, track)"),
    ("who-changed session 1 nope", 2, "unknown field 'nope' for model session (valid fields: "),
    ("changes --actor mallory", 2, "unknown actor 'mallory' (known actors: alice, bob, carol,"),
    ("changes --since yesterday", 2, "--since: 'yesterday' is not an ISO 8601 time"),
    ("changes --since 2026-11-26T10:00", 2, "--since: '2026-11-26T10:00' has no UTC offset"),
    (f"changes --since 2026-03-29T02:30 {BERLIN}", 2, "does not exist in Europe/Berlin"),
    (f"changes --since 2026-10-25T02:30 {BERLIN}", 2, "is ambiguous in Europe/Berlin"),
    ("changes --since 2026-11-26T10:00Z --until 2026-11-25T10:00Z", 2, "is not after --since"),
    ("report --since 2026-11-26T10:00Z --until 2026-11-26T10:00Z", 2, "is not after --since"),
    ("history session 1 --tz Mars/Olympus", 2, "unknown time zone 'Mars/Olympus'"),
    ("show session 1 --at 9999-12-31T23:59:59-01:00", 2, "--at: '9999-12-31T23:59:59-01:00' is"),
    (f"show session 1 --at 0001-01-01 {BERLIN}", 2, "local time 0001-01-01 is outside the"),
    ("changes --since 0001-01-01T00:00+05:00", 2, "--since: '0001-01-01T00:00+05:00' is"),
    (
        "report --since 0001-01-01T00:00Z --until 0001-01-03T00:00Z --tz America/New_York"
        " --chart {tmp}/c.svg",
        2,
        "--since: '0001-01-01T00:00Z' is outside",
    ),
    ("changes --limit 0", 2, "limit must be a positive integer"),
    ("changes --after-transaction -1", 2, "transaction id must be a positive integer"),
    ("changes --follow --format json", 2, "--follow prints a stream"),
    ("changes --follow --interval 0", 2, "interval must be 0.1 to 3600 seconds"),
    ("changes --actor evil\x1b[2J", 2, "unknown actor 'evil\\x1b[2J' (known actors: alice"),
    (
        "report --since 2026-11-01 --until 2026-12-01 --tz UTC --chart {tmp}/c.png",
        2,
        "unsupported chart format '.png'",
    ),
    ("history session 999999", 7, "session 999999 does not exist and has no history"),
    ("show session {talk} --at 2000-01-01T00:00Z", 7, "did not exist yet at 2000-01-01T00:00:00"),
    ("revert session {talk} --to {tidy}", 7, "transaction {tidy} did not change session {talk}"),
]


@pytest.mark.parametrize(("args", "code", "message"), MISTAKES)
def test_each_input_mistake_is_one_line_with_its_exit_code_and_writes_nothing(
    scenario: Scenario, tmp_path: Any, args: str, code: int, message: str
) -> None:
    values = {"talk": scenario.ids["talk"], "tidy": scenario.tx["tidy"], "tmp": tmp_path}
    with scenario.engine.connect() as connection:
        before = connection.execute(
            sa.text(f"SELECT count(*) FROM {transactions(connection)}")
        ).scalar_one()
    result = run_cli(scenario.url, *shlex.split(args.format(**values)))
    assert result.code == code
    assert result.out == ""
    assert result.err == result.err.strip() + "\n" and result.err.count("\n") == 1, result.err
    assert result.err.startswith("error: ") and message.format(**values) in result.err
    assert "Traceback" not in result.err
    assert list(tmp_path.iterdir()) == []
    with scenario.engine.connect() as connection:
        after = connection.execute(
            sa.text(f"SELECT count(*) FROM {transactions(connection)}")
        ).scalar_one()
    assert after == before
