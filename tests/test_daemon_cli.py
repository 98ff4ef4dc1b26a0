"""``audittrail jobs``, ``reconcile`` and ``verify``: the same job code, run once on demand."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

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

    assert audittrail(database_url, "jobs") == 0
    listing = capsys.readouterr().out

    lines = {line.split()[0]: line for line in listing.splitlines()[1:4]}
    assert "every 30s" in lines["sync"] and "never" in lines["sync"]
    assert "cron '0 3 * * *' (UTC)" in lines["reconcile"] and "03:00:00Z" in lines["reconcile"]
    assert "succeeded" in lines["verify"] and "0 drifted" in lines["verify"]
    assert "sync watermark: transaction 0" in listing


def test_daemon_commands_refuse_a_database_that_is_not_migrated(
    empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audittrail(empty_database_url, "reconcile") == 5
    assert "audittrail migrate" in capsys.readouterr().err


def test_a_progress_line_is_drawn_on_stderr_only_when_stdout_is_a_terminal(
    database_url: str, engine: sa.Engine
) -> None:
    add_sessions(engine, 30)
    controller, terminal = pty.openpty()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AUDITD_")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "auditd", "--database-url", database_url, "reconcile", "--full"],
            stdout=terminal,
            stderr=subprocess.PIPE,
            env={**env, "AUDITD_SERVICE_BATCH_SIZE": "7", "AUDITD_LOGGING_LEVEL": "warning"},
            timeout=60,
            check=False,
        )
        shown = os.read(controller, 65536).decode()
    finally:
        os.close(controller)
        os.close(terminal)

    assert result.returncode == 0
    assert b"\rreconcile: 30/30 rows (100%)" in result.stderr
    assert "repaired 0 of 30 rows" in shown
