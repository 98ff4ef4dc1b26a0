"""The installed ``audittrail`` console script as operators and scripts meet it:
help that teaches, tables that fit the terminal, spreadsheet-safe CSV, escaped
stored data in error lines, no files made by reading, a progress line that
stays apart from logs."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.cells import cell_len
from test_cli_history import table_rows
from test_daemon_support import add_sessions
from test_history_support import Scenario, scenario_fixture, wait_for_horizon
from test_ledger_support import last_transaction_id

from auditd import api
from auditd.capture.attribution import audit_context, session_factory
from auditd.cli.help import COMMANDS
from auditd.cli.main import build_parser
from auditd.cli.render import client
from auditd.models import Session

AUDITTRAIL = str(Path(sys.executable).with_name("audittrail"))

scenario = scenario_fixture("console", feed=True)


def audittrail(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console script with a clean environment (no AUDITD_*, no COLUMNS)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_") and k != "COLUMNS"}
    return subprocess.run(
        [AUDITTRAIL, *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def subcommands() -> dict[str, object]:
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    return dict(actions[0].choices or {})  # type: ignore[call-overload]


# -- help -------------------------------------------------------------------------


def test_every_command_has_an_entry_in_the_help_table() -> None:
    assert sorted(subcommands()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_of_each_command_has_a_description_examples_and_exit_codes(command: str) -> None:
    result = audittrail(command, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert " ".join(COMMANDS[command].description.split()) in text
    examples = result.stdout.split("examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert examples and all(line.startswith("  audittrail ") for line in examples), examples
    assert any(f" {command}" in line for line in examples)
    codes = result.stdout.split("exit codes:\n", 1)[1].splitlines()
    assert codes[0] == "  0  success"
    shown = {int(line.split()[0]) for line in codes if line.strip()}
    assert shown == {0, *COMMANDS[command].exit_codes}
    assert 2 in shown  # any command can be given a bad command line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_and_argument_has_a_description(command: str) -> None:
    parser = subcommands()[command]
    undescribed = [
        action.option_strings or action.dest
        for action in parser._actions  # type: ignore[attr-defined]
        if not action.help
    ]
    assert undescribed == []


def test_version_names_the_installed_package() -> None:
    result = audittrail("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"audittrail \d+\.\d+\.\d+\S*\n", result.stdout)


def test_tz_help_says_what_an_input_time_without_offset_needs() -> None:
    text = " ".join(audittrail("history", "--help").stdout.split())
    assert "input times without an offset are read in ZONE (without --tz they need one)" in text


# -- tables fit the terminal ---------------------------------------------------------


def table_commands(s: Scenario) -> list[list[str]]:
    talk, workshop = str(s.ids["talk"]), str(s.ids["workshop"])
    since, until = s.at["create"].isoformat(), s.at["other"].isoformat()
    return [
        ["history", "session", talk],
        ["changes"],
        ["show", "session", talk],
        ["who-changed", "session", workshop, "starts_at"],
        ["revert", "session", talk, "--to", str(s.tx["create"]), "--dry-run"],
        ["report", "--since", since, "--until", until, "--by", "field"],
        ["jobs"],
    ]


def test_with_columns_80_no_table_line_is_wider_than_80(scenario: Scenario) -> None:
    for command in table_commands(scenario):
        args = ["--database-url", scenario.url, *command, "--format", "table"]
        fitted = audittrail(*args, env={"COLUMNS": "80"})
        assert fitted.returncode == 0, fitted.stderr
        assert max(cell_len(line) for line in fitted.stdout.splitlines()) <= 80, command
    # The check bites: without a width the same history is wider.
    history = [*table_commands(scenario)[0], "--format", "table"]
    unlimited = audittrail("--database-url", scenario.url, *history)
    assert max(cell_len(line) for line in unlimited.stdout.splitlines()) > 80


def test_a_fitted_history_keeps_its_columns_and_marks_cut_cells(scenario: Scenario) -> None:
    talk = str(scenario.ids["talk"])
    args = ["--database-url", scenario.url, "history", "session", talk, "--format", "table"]
    fitted = audittrail(*args, env={"COLUMNS": "120"}).stdout.splitlines()
    assert fitted[0].split() == [
        "TX", "TIME", "ACTOR", "ORIGIN", "OPERATION", "FIELD", "OLD", "NEW", "REASON", "CLIENT"
    ]  # fmt: skip
    assert all(cell_len(line) <= 120 for line in fitted)
    assert any("…" in line for line in fitted)
    # Times are kept whole while other columns give way.
    assert scenario.at["swap"].isoformat(timespec="seconds") in "\n".join(fitted)


def test_tables_show_the_client_application_and_address(scenario: Scenario) -> None:
    raw = next(
        c for c in api.changes(scenario.engine).changes if c.transaction_id == scenario.tx["raw"]
    )
    if scenario.backend == "postgresql":  # raw SQL is known by its connection only
        assert raw.application == "audittrail" and raw.remote_addr == "127.0.0.1"
        assert raw.db_role == "postgres" and raw.client_addr == "127.0.0.1"
        assert client(raw) == "postgres via audittrail (127.0.0.1)"
    for command in (["changes"], ["history", "session", str(scenario.ids["talk"])]):
        out = audittrail("--database-url", scenario.url, *command, "--format", "table").stdout
        body = [line for line in out.splitlines() if " transaction" not in line]
        _, rows = table_rows("\n".join(body))
        assert [r["client"] for r in rows if r["tx"] == str(raw.transaction_id)] == [
            client(raw) or "-"
        ]


# -- CSV that spreadsheets cannot run ---------------------------------------------------

FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd",
    "\t=1+1",
    "\r=1+1",
]


def test_every_formula_prefix_is_neutralised_in_csv_unless_asked(
    database_url: str, engine: sa.Engine
) -> None:
    actor = '=HYPERLINK("http://x")'
    with audit_context(actor=actor, origin="test"), session_factory(engine).begin() as session:
        session.add_all([Session(title=title) for title in FORMULAS])
    wait_for_horizon(engine, last_transaction_id(engine))  # the feed serves it from then on
    args = ["--database-url", database_url, "changes", "--field", "title"]
    safe = list(csv.DictReader(io.StringIO(audittrail(*args, "--format", "csv").stdout)))
    raw = list(
        csv.DictReader(io.StringIO(audittrail(*args, "--format", "csv", "--csv-formulas").stdout))
    )

    assert [row["new"] for row in safe] == [
        "'=cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0", "'-2+3", "'@SUM(1+1)*cmd",
        "'\\t=1+1", "'\\r=1+1",
    ]  # fmt: skip
    assert {row["actor"] for row in safe} == {"'" + actor}
    assert [row["new"] for row in raw] == [
        "=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd", "\\t=1+1", "\\r=1+1"
    ]  # fmt: skip
    # Numbers are not text: a negative id or count is never prefixed.
    assert all(row["row_id"].isdigit() for row in safe)


# -- stored data in error lines ----------------------------------------------------------


def test_known_actors_in_an_error_line_are_escaped(database_url: str, engine: sa.Engine) -> None:
    actor = "evil\x1b]0;owned\x07\x9b2J"
    with audit_context(actor=actor, origin="test"), session_factory(engine).begin() as session:
        session.add(Session(title="x"))
    result = audittrail("--database-url", database_url, "changes", "--actor", "nobody")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "known actors: evil\\x1b]0;owned\\x07\\x9b2J" in result.stderr
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", result.stderr)


# -- reading creates nothing ---------------------------------------------------------------

READING = [
    ["history", "session", "1"],
    ["show", "session", "1"],
    ["changes"],
    ["changes", "--follow"],
    ["who-changed", "session", "1", "title"],
    ["report", "--since", "2026-01-01T00:00Z", "--until", "2026-02-01T00:00Z"],
    ["revert", "session", "1", "--to", "1", "--dry-run"],
    ["jobs"],
    ["verify"],
    ["reconcile", "--dry-run"],
    ["demo"],
    ["adopt"],
]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("command", READING, ids=lambda c: " ".join(c[:2]))
def test_a_missing_sqlite_file_is_not_found_and_nothing_is_created(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "existing").mkdir()
    before = tree(tmp_path)
    missing = tmp_path / "existing" / "nested" / "audittrail.db"
    result = audittrail("--database-url", f"sqlite:///{missing}", *command, cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"error: SQLite database '{missing}' not found (check database.url,"
        " or create it with `audittrail migrate`)\n"
    )
    assert tree(tmp_path) == before


def test_the_default_database_missing_is_not_found_and_no_state_folder_appears(
    tmp_path: Path,
) -> None:
    result = audittrail("history", "session", "1", cwd=tmp_path)
    assert result.returncode == 4
    assert f"SQLite database '{tmp_path}/state/audittrail.db' not found" in result.stderr
    assert tree(tmp_path) == []


def test_a_relative_sqlite_url_is_refused_and_names_the_absolute_form(tmp_path: Path) -> None:
    result = audittrail("--database-url", "sqlite:///relative.db", "history", "session", "1")
    assert result.returncode == 3
    assert (
        "relative SQLite path" in result.stderr
        and "sqlite:////path/to/relative.db" in result.stderr
    )
    assert tree(tmp_path) == []


# -- progress ---------------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _read_all(descriptor: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # the terminal's other side closed
            return
        if not chunk:
            return
        into.append(chunk)


def test_a_progress_line_is_drawn_on_a_terminal_apart_from_logs_and_results(
    database_url: str, engine: sa.Engine
) -> None:
    add_sessions(engine, 30)
    env = {"AUDITD_SERVICE_BATCH_SIZE": "7", "AUDITD_LOGGING_LEVEL": "info"}
    controller, terminal = pty.openpty()
    shown: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(controller, shown))
    reader.start()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_")}
    try:
        process = subprocess.run(
            [AUDITTRAIL, "--database-url", database_url, "reconcile", "--full"],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env={**clean, **env},
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        reader.join(timeout=30)
        os.close(controller)
    screen = b"".join(shown).decode()
    segments = [s for s in re.split(r"[\r\n]", ANSI.sub("", screen)) if s.strip()]

    assert process.returncode == 0
    assert b"repaired 0 of 30 rows" in process.stdout and b"30/30" not in process.stdout
    progress = [s for s in segments if "30/30 rows" in s]
    assert progress and all(s.lstrip().startswith("reconcile") for s in progress)
    logs = [s for s in segments if "job run finished" in s]
    assert len(logs) == 1 and "30/30" not in logs[0] and "reconcile ━" not in logs[0]

    # Not a terminal: no progress at all, and the log line alone.
    piped = audittrail("--database-url", database_url, "reconcile", "--full", env=env)
    assert piped.returncode == 0
    assert "30/30" not in piped.stderr and "\r" not in piped.stderr and "\x1b" not in piped.stderr
    assert [json.loads(line)["event"] for line in piped.stderr.splitlines()] == ["job run finished"]
