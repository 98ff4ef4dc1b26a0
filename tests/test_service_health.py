"""The watchdog, ``STATUS=``, ``/healthz`` and ``/metrics`` tell the truth about each job.

A real ``serve`` behind a TCP proxy: one job's connection is frozen (a
partition that no server timeout covers) while another job keeps running.
"""

from __future__ import annotations

import re
import signal
import socket
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_daemon_support import (
    NotifySocket,
    ServeProcess,
    TcpProxy,
    add_sessions,
    job_runs,
    live_logging,
    set_stamp_only,
    with_password,
)
from test_service import run_by_hand, wait_until

from auditd.daemon.locks import _ADVISORY_SPACE

pytestmark = pytest.mark.usefixtures(live_logging.__name__)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "daemon.md"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (our own http)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}(\{{{re.escape(wanted)}\}})? (\S+)$" if wanted else None
    for line in text.splitlines():
        if pattern is None and line.startswith(f"{name} "):
            return float(line.split()[1])
        if pattern is not None:
            found = re.match(pattern, line)
            if found and found.group(1):
                return float(found.group(2))
    return None


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path)
    yield listener
    listener.close()


def job_lock_port(engine: sa.Engine, job: str) -> int | None:
    """The client port (as the server sees it) of the connection holding ``job``'s lock."""
    key = zlib.crc32(job.encode()) & 0x7FFFFFFF
    with engine.connect() as connection:
        port = connection.scalar(
            sa.text(
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                " WHERE l.locktype = 'advisory' AND l.classid = :space AND l.objid = :key"
                " AND l.granted AND a.datname = current_database()"
            ),
            {"space": _ADVISORY_SPACE, "key": key},
        )
    return None if port is None else int(port)


@pytest.mark.postgresql_only
def test_one_hung_job_withholds_the_watchdog_and_flips_health_while_another_job_runs(
    engine: sa.Engine, database_url: str, notify: NotifySocket, tmp_path: Path
) -> None:
    ids = add_sessions(engine, 1500)
    set_stamp_only(engine, ids)  # a long reconcile: 750 batches of 2
    url = sa.make_url(with_password(database_url))
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.open()
    port = free_port()
    settings = {
        "AUDITD_JOBS_SYNC_INTERVAL_SECONDS": "1",
        "AUDITD_JOBS_RECONCILE_INTERVAL_SECONDS": "1",
        "AUDITD_JOBS_VERIFY_ENABLED": "false",
        "AUDITD_SERVICE_BATCH_SIZE": "2",
        # Stall limit: 2 x statement + lock + connect = 6 s.
        "AUDITD_DATABASE_STATEMENT_TIMEOUT_SECONDS": "2",
        "AUDITD_DATABASE_LOCK_TIMEOUT_SECONDS": "1",
        "AUDITD_DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
        "AUDITD_METRICS_LISTEN_ADDRESS": str(port),
    }
    serve = ServeProcess(
        url.set(port=proxy.port).render_as_string(hide_password=False),
        tmp_path / "state",
        notify=notify,
        watchdog_usec=1_000_000,
        settings=settings,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        notify.wait_for("READY=1", timeout=60)
        assert get(f"{base}/healthz")[0] == 200
        lock_port = wait_until(
            lambda: job_lock_port(engine, "reconcile"), timeout=60, what="a reconcile under way"
        )
        proxy.freeze(lock_port)  # reconcile's next lock check never gets an answer

        serve.wait_for_event("job made no progress; withholding the watchdog", timeout=60)
        withheld_at = len(notify.assignments())
        syncs_then = len([run for run in job_runs(engine, "sync") if run["status"] == "succeeded"])
        wait_until(
            lambda: (
                len([r for r in job_runs(engine, "sync") if r["status"] == "succeeded"])
                >= syncs_then + 3
            ),
            timeout=60,
            what="sync running on while reconcile hangs",
        )
        assert "WATCHDOG=1" not in notify.assignments()[withheld_at:]
        status = [line for line in notify.assignments() if line.startswith("STATUS=")][-1]
        assert status.startswith("STATUS=reconcile: no progress since ")
        assert "run in progress" in status
        code, body = get(f"{base}/healthz")
        assert code == 503
        assert "reconcile: no progress since" in body
        scraped = get(f"{base}/metrics")[1]
        assert metric(scraped, "audittrail_job_stalled", job="reconcile") == 1.0
        assert metric(scraped, "audittrail_job_stalled", job="sync") == 0.0
        assert metric(scraped, "audittrail_healthy") == 0.0

        proxy.thaw_all()
        recovered = serve.wait_for_event(
            "every job makes progress again; feeding the watchdog", timeout=60
        )
        assert recovered
        notify.wait_for("WATCHDOG=1", timeout=30, after=len(notify.assignments()))
        assert get(f"{base}/healthz")[0] == 200
        serve.send(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
    finally:
        proxy.close()
        serve.stop()


@pytest.mark.sqlite_only
def test_metrics_answer_with_the_documented_names_and_health_is_ok(
    engine: sa.Engine, database_url: str, notify: NotifySocket, tmp_path: Path
) -> None:
    ids = add_sessions(engine, 20)
    run_by_hand(database_url, "sync", engine)  # the history so far is synced
    set_stamp_only(engine, ids[:5])  # drift only verify (and reconcile) can see
    port = free_port()
    serve = ServeProcess(
        database_url,
        tmp_path / "state",
        notify=notify,
        settings={
            "AUDITD_JOBS_SYNC_INTERVAL_SECONDS": "1",
            "AUDITD_JOBS_VERIFY_INTERVAL_SECONDS": "1",
            "AUDITD_JOBS_RECONCILE_ENABLED": "false",
            "AUDITD_METRICS_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        notify.wait_for("READY=1", timeout=60)
        wait_until(
            lambda: len([r for r in job_runs(engine, "verify") if r["status"] == "succeeded"]),
            timeout=60,
            what="a verify run",
        )
        scraped = wait_until(
            lambda: (
                (text := get(f"{base}/metrics")[1])
                and metric(text, "audittrail_job_runs_total", job="verify", outcome="succeeded")
                and text
            ),
            timeout=30,
            what="the verify run in the metrics",
        )
        code, body = get(f"{base}/healthz")
        missing = get(f"{base}/nope")[0]
        serve.send(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
    finally:
        serve.stop()

    assert (code, missing) == (200, 404)
    assert body.startswith("ok: ")
    assert metric(scraped, "audittrail_drift_rows") == 5.0  # what verify found
    assert metric(scraped, "audittrail_healthy") == 1.0
    exported = set(re.findall(r"^# TYPE (audittrail_\w+) ", scraped, flags=re.MULTILINE))
    section = DOCS.read_text().split("## Metrics and health", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(audittrail_\w+)`", section, flags=re.MULTILINE))
    assert exported == documented, "docs/daemon.md must list exactly the exported metrics"
    assert metric(scraped, "process_resident_memory_bytes") is not None


@pytest.mark.sqlite_only
def test_a_metrics_address_that_cannot_be_bound_is_one_line_and_exit_3(
    database_url: str, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        serve = ServeProcess(
            database_url,
            tmp_path / "state",
            settings={"AUDITD_METRICS_LISTEN_ADDRESS": str(taken.getsockname()[1])},
        )
        code = serve.wait(timeout=60)

    assert code == 3
    (line,) = serve.stderr
    assert line.startswith("error: metrics.listen_address ")
    assert "cannot be used: Address already in use" in line
