"""``audittrail jobs``, ``reconcile`` and ``verify``: the same job code, run once on demand."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
import sqlalchemy as sa
from test_daemon_support import add_sessions, drifted_keys, live_logging, set_stamp_only
from test_history_support import wait_for_horizon

from auditd.cli.main import main
from auditd.models.audit import TRANSACTION

pytestmark = pytest.mark.usefixtures(live_logging.__name__)


def audittrail(url: str, *args: str) -> int:
    return main(["--database-url", url, *args])


def test_verify_exits_1_on_drift_and_0_once_reconcile_repaired_it(
    database_url: str, engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = add_sessions(engine, 6)
    set_stamp_only(engine, ids[2:4])

    assert audittrail(database_url, "verify") == 1
    found = capsys.readouterr().out
    assert audittrail(database_url, "reconcile", "--full", "--dry-run") == 0
    dry = capsys.readouterr().out
    assert drifted_keys(engine) == ids[2:4]
    assert audittrail(database_url, "reconcile", "--full") == 0
    repaired = capsys.readouterr()
    assert audittrail(database_url, "verify") == 0
    clean = capsys.readouterr().out

    assert "2 of 6 rows drifted" in found and f"drifted sessions: {ids[2]}, {ids[3]}" in found
    assert "2 of 6 rows would be repaired" in dry
    assert "repaired 2 of 6 rows" in repaired.out
    assert "\r" not in repaired.err, "a progress bar was drawn although stdout is not a terminal"
    assert "no drift, change capture complete" in clean


def test_reconcile_without_full_runs_the_incremental_sync(
    database_url: str, engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    add_sessions(engine, 4)
    # A writing transaction open anywhere on a shared PostgreSQL server would
    # hold the first sync's watermark below these inserts.
    with engine.connect() as connection:
        wait_for_horizon(engine, int(connection.scalar(sa.select(sa.func.max(TRANSACTION.c.id)))))

    assert audittrail(database_url, "reconcile") == 0
    first = capsys.readouterr().out
    assert audittrail(database_url, "reconcile") == 0
    second = capsys.readouterr().out

    assert "sync over rows changed since the last sync: repaired 0 of 4 rows" in first
    assert "sync over rows changed since the last sync: repaired 0 of 0 rows" in second


def test_jobs_lists_schedule_last_run_and_next_run(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audittrail(database_url, "verify") == 0
    capsys.readouterr()

    assert audittrail(database_url, "jobs", "--format", "table") == 0
    listing = capsys.readouterr().out

    lines = {line.split()[0]: line for line in listing.splitlines()[1:4]}
    assert "every 30s" in lines["sync"] and "never" in lines["sync"]
    assert "cron '0 3 * * *' (UTC)" in lines["reconcile"]
    assert "T03:00:00+00:00" in lines["reconcile"]
    assert "succeeded" in lines["verify"] and "0 drifted" in lines["verify"]
    assert "sync watermark: transaction 0" in listing


def test_daemon_commands_refuse_a_database_that_is_not_migrated(
    empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if empty_database_url.startswith("sqlite"):
        sqlite3.connect(sa.make_url(empty_database_url).database or "").close()
    assert audittrail(empty_database_url, "reconcile") == 5
    assert "audittrail migrate" in capsys.readouterr().err


def test_jobs_in_json_and_csv_carry_each_job_with_times_in_the_asked_zone(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audittrail(database_url, "verify") == 0
    capsys.readouterr()

    assert audittrail(database_url, "jobs", "--format", "json", "--tz", "Asia/Tokyo") == 0
    jobs = {job["job"]: job for job in json.loads(capsys.readouterr().out)}
    assert audittrail(database_url, "jobs", "--format", "csv") == 0
    rows = {row["job"]: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}

    assert jobs["verify"]["last_run"]["status"] == "succeeded"
    assert jobs["verify"]["last_run"]["started_at"].endswith("+09:00")
    assert jobs["reconcile"]["next_run"].endswith("T12:00:00+09:00")  # 03:00 UTC
    assert jobs["sync"]["last_run"] is None and jobs["sync"]["watermark"] == 0
    assert rows["verify"]["last_status"] == "succeeded" and rows["sync"]["last_status"] == ""
    assert rows["reconcile"]["next_run"].endswith("T03:00:00+00:00")
