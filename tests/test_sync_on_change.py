"""Sync follows commits within seconds, coalesces bursts, and survives a lost listener.

The sync schedule is set to once an hour, so a repair seen within the
test's patience came from a run woken by the commit (recorded with kind
``change``), not from the timer.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_daemon_support import (
    NotifySocket,
    ServeProcess,
    add_sessions,
    change_title_then_break_stamp,
    drifted_keys,
    job_runs,
    live_logging,
)
from test_service import run_by_hand, wait_until

pytestmark = pytest.mark.usefixtures(live_logging.__name__)

HOURLY_SYNC_ONLY = {
    "AUDITD_JOBS_SYNC_INTERVAL_SECONDS": "3600",
    "AUDITD_JOBS_RECONCILE_ENABLED": "false",
    "AUDITD_JOBS_VERIFY_ENABLED": "false",
    "AUDITD_SERVICE_CHANGE_POLL_SECONDS": "0.2",
}


@pytest.fixture
def serving(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> Iterator[Callable[..., ServeProcess]]:
    started: list[tuple[ServeProcess, NotifySocket]] = []

    def start(**settings: str) -> ServeProcess:
        notify = NotifySocket(tmp_path)
        serve = ServeProcess(
            database_url, tmp_path / "state", notify=notify, settings=HOURLY_SYNC_ONLY | settings
        )
        started.append((serve, notify))
        notify.wait_for("READY=1", timeout=60)
        wait_until(lambda: job_runs(engine, "sync"), timeout=60, what="the catch-up sync")
        return serve

    yield start
    for serve, notify in started:
        serve.stop()
        notify.close()


def change_runs(engine: sa.Engine) -> list[dict[str, Any]]:
    return [run for run in job_runs(engine, "sync") if run["kind"] == "change"]


def test_an_out_of_band_edit_is_repaired_by_a_sync_the_commit_woke(
    engine: sa.Engine, database_url: str, serving: Callable[..., ServeProcess]
) -> None:
    ids = add_sessions(engine, 10)
    run_by_hand(database_url, "sync", engine)
    serve = serving()
    before = len(change_runs(engine))

    change_title_then_break_stamp(engine, ids[:3], "edited behind the daemon's back")

    wait_until(lambda: not drifted_keys(engine), timeout=60, what="the drift repaired")
    repairing = [run for run in change_runs(engine)[before:] if run["rows_repaired"]]
    assert sum(run["rows_repaired"] for run in repairing) == 3
    serve.send(signal.SIGTERM)
    assert serve.wait(timeout=60) == 0


def test_a_burst_of_commits_is_coalesced_into_a_few_sync_runs(
    engine: sa.Engine, database_url: str, serving: Callable[..., ServeProcess]
) -> None:
    ids = add_sessions(engine, 300)
    run_by_hand(database_url, "sync", engine)
    serve = serving()
    before = len(change_runs(engine))

    for key in ids:  # 300 commits, one row each
        change_title_then_break_stamp(engine, [key], "burst")

    wait_until(lambda: not drifted_keys(engine), timeout=120, what="the burst repaired")
    runs = change_runs(engine)[before:]
    assert sum(run["rows_repaired"] for run in runs) == 300
    assert len(runs) <= 30, f"{len(runs)} sync runs for 300 commits"
    serve.send(signal.SIGTERM)
    assert serve.wait(timeout=60) == 0


@pytest.mark.postgresql_only
def test_the_listener_reconnects_after_losing_its_connection(
    engine: sa.Engine, database_url: str, serving: Callable[..., ServeProcess]
) -> None:
    ids = add_sessions(engine, 10)
    run_by_hand(database_url, "sync", engine)
    serve = serving()
    serve.wait_for_event("listening for commits", timeout=60)

    with engine.connect() as connection:
        killed = connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
            )
        ).all()
        connection.commit()
    assert killed == [(True,)]
    wait_until(
        lambda: len([e for e in serve.events() if e["event"] == "listening for commits"]) >= 2,
        timeout=60,
        what="the listener back",
    )
    before = len(change_runs(engine))

    change_title_then_break_stamp(engine, ids[:2], "after the reconnect")

    wait_until(lambda: not drifted_keys(engine), timeout=60, what="the drift repaired")
    assert sum(run["rows_repaired"] for run in change_runs(engine)[before:]) == 2
    assert serve.process.poll() is None
    serve.send(signal.SIGTERM)
    assert serve.wait(timeout=60) == 0
