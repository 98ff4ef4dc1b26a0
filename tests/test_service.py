"""The real ``serve`` process: systemd notifications, repairs, signals, faults.

Every test starts ``python -m auditd serve`` with short schedules, talks to it
through a real notify socket and real signals, and checks the database it
repaired. PostgreSQL tests connect with a password in the URL, and every
test checks that no password reached the process's output.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_daemon_support import (
    NotifySocket,
    ServeProcess,
    TcpProxy,
    add_sessions,
    change_title_then_break_stamp,
    drifted_keys,
    history_size,
    job_runs,
    live_logging,
    set_stamp_only,
    with_password,
)

from auditd import db
from auditd.config import load_settings
from auditd.config.sections import JOB_NAMES
from auditd.daemon.jobs import run_job
from auditd.ledger import verify_integrity

ONLY = {  # settings that leave one job scheduled every second, and no other
    job: {
        f"AUDITD_JOBS_{other.upper()}_ENABLED": "false" if other != job else "true"
        for other in JOB_NAMES
    }
    | {f"AUDITD_JOBS_{job.upper()}_INTERVAL_SECONDS": "1"}
    for job in ("sync", "reconcile", "verify")
}

pytestmark = pytest.mark.usefixtures(live_logging.__name__)


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path)
    yield listener
    listener.close()


@pytest.fixture
def serve_url(database_url: str, backend: str) -> str:
    """The database URL serve gets: with a password on PostgreSQL."""
    return with_password(database_url) if backend == "postgresql" else database_url


@pytest.fixture
def start(serve_url: str, tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def starter(**options: Any) -> ServeProcess:
        options.setdefault("settings", {})
        process = ServeProcess(options.pop("url", serve_url), tmp_path / "state", **options)
        started.append(process)
        return process

    yield starter
    for process in started:
        process.stop()


def run_by_hand(database_url: str, job: str, engine: sa.Engine) -> Any:
    settings = load_settings(environ={}, overrides={"database.url": database_url})
    return run_job(engine, settings, job)


def test_serve_sends_ready_watchdog_status_and_stopping_and_exits_0_on_sigterm(
    start: Callable[..., ServeProcess], notify: NotifySocket
) -> None:
    serve = start(notify=notify, watchdog_usec=600_000, settings=ONLY["sync"])

    ready = notify.wait_for("READY=1", timeout=30)
    notify.wait_for("WATCHDOG=1", timeout=5, after=ready)
    serve.send(signal.SIGTERM)

    assert serve.wait(timeout=30) == 0
    received = notify.assignments()
    assert received.index("STOPPING=1") > ready
    assert any(line.startswith("STATUS=") for line in received)
    assert serve.wait_for_event("serve stopped", timeout=1)


def test_serve_repairs_raw_sql_drift_with_sync_and_reconcile_and_creates_no_version(
    start: Callable[..., ServeProcess], notify: NotifySocket, engine: sa.Engine, database_url: str
) -> None:
    ids = add_sessions(engine, 30)
    run_by_hand(database_url, "sync", engine)  # the history so far is synced
    set_stamp_only(engine, ids[:10])  # only the full pass can see these
    change_title_then_break_stamp(engine, ids[10:15], "bulk rename")  # sync sees these
    before = history_size(engine)
    settings = {
        "AUDITD_JOBS_SYNC_INTERVAL_SECONDS": "1",
        "AUDITD_JOBS_RECONCILE_INTERVAL_SECONDS": "2",
        "AUDITD_JOBS_VERIFY_ENABLED": "false",
        "AUDITD_SERVICE_BATCH_SIZE": "4",
    }
    serve = start(notify=notify, settings=settings)
    notify.wait_for("READY=1", timeout=30)

    def quiet_after_repairs() -> bool:
        runs = [run for run in job_runs(engine) if run["status"] == "succeeded"]
        repaired = sum(run["rows_repaired"] for run in runs)
        last = {run["job"]: run for run in runs}
        return repaired == 15 and all(
            job in last and last[job]["rows_repaired"] == 0 for job in ("sync", "reconcile")
        )

    wait_until(quiet_after_repairs, timeout=30, what="all drift repaired, then a quiet run")
    serve.send(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0

    assert drifted_keys(engine) == []
    assert history_size(engine) == before, "a repair wrote a version or transaction row"
    summary = serve.wait_for_event("job run finished", timeout=1, job="reconcile")
    assert {"run_id", "rows_scanned", "rows_repaired", "duration_seconds", "outcome"} <= set(
        summary
    )


def test_sigterm_during_a_large_reconcile_exits_0_and_keeps_every_batch_whole(
    start: Callable[..., ServeProcess], notify: NotifySocket, engine: sa.Engine, serve_url: str
) -> None:
    ids = add_sessions(engine, 1500)
    set_stamp_only(engine, ids)
    batch = 3
    serve = start(
        notify=notify, settings={**ONLY["reconcile"], "AUDITD_SERVICE_BATCH_SIZE": str(batch)}
    )
    notify.wait_for("READY=1", timeout=30)
    wait_until(
        lambda: any(run["rows_repaired"] >= 30 for run in job_runs(engine, "reconcile")),
        timeout=30,
        what="a reconcile under way",
    )

    serve.send(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0

    (interrupted,) = job_runs(engine, "reconcile")
    assert interrupted["status"] == "interrupted"
    repaired = sorted(set(ids) - set(drifted_keys(engine)))
    assert 0 < len(repaired) < len(ids), "the reconcile was not stopped in the middle"
    # All-or-nothing batches in key order: exactly the first whole batches are
    # repaired, and the run's counters agree with the database.
    assert len(repaired) % batch == 0
    assert repaired == ids[: len(repaired)]
    assert interrupted["rows_repaired"] == len(repaired)

    rerun = run_by_hand(serve_url, "reconcile", engine)
    assert rerun.rows_repaired == len(ids) - len(repaired)
    assert drifted_keys(engine) == []
    assert run_by_hand(serve_url, "reconcile", engine).rows_repaired == 0


def test_sigkill_at_random_moments_then_one_clean_run_leaves_zero_drift(
    start: Callable[..., ServeProcess], notify: NotifySocket, engine: sa.Engine, serve_url: str
) -> None:
    ids = add_sessions(engine, 600)
    chooser = random.Random(4)  # noqa: S311
    settings = {
        "AUDITD_JOBS_SYNC_INTERVAL_SECONDS": "1",
        "AUDITD_JOBS_RECONCILE_INTERVAL_SECONDS": "1",
        "AUDITD_JOBS_VERIFY_ENABLED": "false",
        # A seal run killed here would stay "running" until the next seal run,
        # which this test never starts: it is about sync and reconcile.
        "AUDITD_JOBS_SEAL_ENABLED": "false",
        "AUDITD_SERVICE_BATCH_SIZE": "2",
    }
    changed: set[int] = set()
    for _kill in range(4):
        # Fresh work for both jobs before each start: versioned edits with a
        # broken stamp (sync's) and stamp-only edits (reconcile's).
        edited = chooser.sample(ids, 20)
        change_title_then_break_stamp(engine, edited, f"edit {_kill}")
        stamped_only = chooser.sample(ids, 200)
        set_stamp_only(engine, stamped_only)
        changed = (changed | set(edited)) - set(stamped_only)  # last edit was versioned
        size = history_size(engine)
        serve = start(notify=notify, settings=settings)
        notify.wait_for("READY=1", timeout=30, after=len(notify.assignments()))
        time.sleep(chooser.uniform(0.5, 2.0))
        serve.process.kill()
        assert serve.wait(timeout=10) == -signal.SIGKILL
        assert history_size(engine) == size, "a repair wrote a version or transaction row"

    run_by_hand(serve_url, "sync", engine)
    assert not set(drifted_keys(engine)) & changed, "the sync watermark skipped a change"
    clean = run_by_hand(serve_url, "reconcile", engine)

    assert clean.status == "succeeded"
    assert drifted_keys(engine) == []
    assert run_by_hand(serve_url, "reconcile", engine).rows_repaired == 0
    statuses = {run["status"] for run in job_runs(engine)}
    assert "running" not in statuses
    assert "abandoned" in statuses, "no kill hit a run in progress; the test proves nothing"


@pytest.mark.sqlite_only
def test_a_second_serve_on_the_same_sqlite_file_refuses_to_start_with_exit_6(
    start: Callable[..., ServeProcess], notify: NotifySocket
) -> None:
    first = start(notify=notify, settings=ONLY["verify"])
    notify.wait_for("READY=1", timeout=30)

    second = start(settings=ONLY["verify"])

    assert second.wait(timeout=30) == 6
    assert "another audittrail serve" in second.output()
    assert first.process.poll() is None
    first.send(signal.SIGTERM)
    assert first.wait(timeout=30) == 0


def test_serve_refuses_a_schema_that_is_not_at_the_migration_head_with_exit_5(
    start: Callable[..., ServeProcess], notify: NotifySocket, empty_database_url: str
) -> None:
    serve = start(url=empty_database_url, notify=notify)

    assert serve.wait(timeout=30) == 5
    assert "audittrail migrate" in serve.output()
    assert "READY=1" not in notify.assignments()


@pytest.mark.sqlite_only
def test_sighup_with_a_broken_config_keeps_the_old_one_and_a_good_one_applies(
    start: Callable[..., ServeProcess], notify: NotifySocket, engine: sa.Engine, tmp_path: Path
) -> None:
    config = tmp_path / "audittrail.toml"
    enabled = "[jobs.sync]\ninterval_seconds = 1\n[jobs.reconcile]\nenabled = false\n"
    enabled += "[jobs.verify]\nenabled = false\n"
    config.write_text(enabled)
    serve = start(notify=notify, args=["--config", str(config)])
    notify.wait_for("READY=1", timeout=30)
    wait_until(lambda: len(job_runs(engine, "sync")) >= 1, timeout=10, what="a sync run")

    config.write_text("[jobs.sync\ninterval_seconds = one\n")
    serve.send(signal.SIGHUP)
    failed = serve.wait_for_event("configuration reload failed; keeping the current one", 10)
    runs_then = len(job_runs(engine, "sync"))
    wait_until(
        lambda: len(job_runs(engine, "sync")) >= runs_then + 2, timeout=10, what="more syncs"
    )
    assert "not valid TOML" in failed["error"]
    reloading = notify.wait_for("RELOADING=1", timeout=5)
    notify.wait_for("READY=1", timeout=5, after=reloading)

    config.write_text(enabled.replace("interval_seconds = 1", "enabled = false"))
    serve.send(signal.SIGHUP)
    reloaded = serve.wait_for_event("configuration reloaded", 10)
    time.sleep(0.3)  # a run that had already started may finish
    runs_then = len(job_runs(engine, "sync"))
    time.sleep(2.5)

    assert reloaded["changed_jobs"] == ["sync"]
    assert len(job_runs(engine, "sync")) == runs_then, "a disabled job kept running"
    serve.send(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0


def _hold_sqlite_write_lock(database_url: str) -> sa.Connection:
    engine = db.create_engine(
        load_settings(environ={}, overrides={"database.url": database_url}).database
    )
    connection = db.writer(engine).connect()
    connection.begin()  # BEGIN IMMEDIATE: the database's one write lock
    return connection


@pytest.mark.sqlite_only
def test_stop_waits_at_most_the_shutdown_timeout_and_a_second_signal_exits_at_once(
    start: Callable[..., ServeProcess], notify: NotifySocket, database_url: str
) -> None:
    settings = {
        **ONLY["reconcile"],
        "AUDITD_DATABASE_LOCK_TIMEOUT_SECONDS": "60",
        "AUDITD_SERVICE_SHUTDOWN_TIMEOUT_SECONDS": "2",
    }
    holder = _hold_sqlite_write_lock(database_url)  # every write of the run now waits
    try:
        patient = start(notify=notify, settings=settings)
        notify.wait_for("READY=1", timeout=30)
        time.sleep(1.5)  # the first reconcile tick is stuck behind the lock
        started = time.monotonic()
        patient.send(signal.SIGTERM)
        assert patient.wait(timeout=30) == 0
        assert 1.5 < time.monotonic() - started < 10

        impatient = start(
            notify=notify, settings={**settings, "AUDITD_SERVICE_SHUTDOWN_TIMEOUT_SECONDS": "60"}
        )
        notify.wait_for("READY=1", timeout=30, after=len(notify.assignments()))
        time.sleep(1.5)
        impatient.send(signal.SIGTERM)
        time.sleep(0.5)
        assert impatient.process.poll() is None, "it did not wait for the stuck batch"
        started = time.monotonic()
        impatient.send(signal.SIGTERM)
        assert impatient.wait(timeout=10) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 3
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.postgresql_only
def test_a_connection_killed_mid_run_fails_that_run_and_the_next_run_succeeds(
    start: Callable[..., ServeProcess], notify: NotifySocket, engine: sa.Engine, database_url: str
) -> None:
    ids = add_sessions(engine, 1500)
    set_stamp_only(engine, ids)
    serve = start(notify=notify, settings={**ONLY["reconcile"], "AUDITD_SERVICE_BATCH_SIZE": "2"})
    notify.wait_for("READY=1", timeout=30)
    wait_until(
        lambda: any(run["rows_repaired"] > 0 for run in job_runs(engine, "reconcile")),
        timeout=30,
        what="a reconcile under way",
    )

    with engine.connect() as connection:
        killed = connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name = 'audittrail'"
            )
        ).all()
        connection.commit()
    assert killed

    runs = wait_until(
        lambda: (
            (runs := job_runs(engine, "reconcile"))
            and runs[0]["status"] == "failed"
            and any(run["status"] == "succeeded" for run in runs[1:])
            and runs
        ),
        timeout=60,
        what="a failed run followed by a successful one",
    )
    assert runs[0]["error"]
    assert drifted_keys(engine) == []
    assert serve.process.poll() is None
    serve.send(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0


@pytest.mark.postgresql_only
def test_an_unreachable_database_at_start_is_retried_then_ready_once_it_is_back(
    start: Callable[..., ServeProcess], notify: NotifySocket, serve_url: str
) -> None:
    url = sa.make_url(serve_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    behind_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        serve = start(
            url=behind_proxy,
            notify=notify,
            watchdog_usec=400_000,
            settings={**ONLY["verify"], "AUDITD_DATABASE_CONNECT_TIMEOUT_SECONDS": "2"},
        )
        wait_until(
            lambda: (
                len([e for e in serve.events() if e["event"] == "database unavailable, retrying"])
                >= 3
            ),
            timeout=30,
            what="three retries",
        )
        waiting = notify.assignments()
        assert "READY=1" not in waiting
        assert "WATCHDOG=1" in waiting
        assert any(line.startswith("STATUS=waiting for the database") for line in waiting)
        assert serve.process.poll() is None

        proxy.open()
        notify.wait_for("READY=1", timeout=30)
        serve.send(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    finally:
        proxy.close()
    delays = [e["retry_in_seconds"] for e in serve.events() if "retry_in_seconds" in e]
    assert max(delays) <= 1.0  # capped at service.startup_retry_max_seconds


@pytest.mark.sqlite_only
def test_sigterm_while_worker_processes_seal_stops_cleanly_and_the_next_seal_converges(
    start: Callable[..., ServeProcess], notify: NotifySocket, engine: sa.Engine, serve_url: str
) -> None:
    for _ in range(300):  # one block each: rounds of blocks read by worker processes
        add_sessions(engine, 1)
    settings = {
        f"AUDITD_JOBS_{job.upper()}_ENABLED": "true" if job == "seal" else "false"
        for job in JOB_NAMES
    } | {
        "AUDITD_JOBS_SEAL_INTERVAL_SECONDS": "1",
        "AUDITD_LEDGER_BLOCK_SIZE": "1",
        "AUDITD_LEDGER_READERS": "2",
    }
    serve = start(notify=notify, settings=settings)
    notify.wait_for("READY=1", timeout=30)
    serve.wait_for_event("ledger digest", timeout=60)
    helpers = wait_until(lambda: _descendants(serve.pid), timeout=30, what="block readers")

    for pid in (serve.pid, *helpers):  # as systemd stops the unit's whole control group
        os.kill(pid, signal.SIGTERM)

    assert serve.wait(timeout=30) == 0
    wait_until(lambda: not any(_alive(pid) for pid in helpers), timeout=10, what="readers gone")
    sealed = {event["block"] for event in serve.events() if event.get("event") == "ledger digest"}
    assert 0 < len(sealed) < 300, "the seal was not stopped part way"
    assert verify_integrity(engine, readers=1).intact  # whole blocks only
    rerun = run_by_hand(serve_url, "seal", engine)
    assert rerun.status == "succeeded"
    report = verify_integrity(engine, readers=1)
    assert report.intact and report.unsealed_transactions == 0


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (its children, theirs, ...)."""
    found: set[int] = set()
    parents = [pid]
    while parents:
        parent = parents.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            for child in map(int, children.read_text().split()):
                if child not in found:
                    found.add(child)
                    parents.append(child)
    return found


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
