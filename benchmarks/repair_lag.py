"""Commit-to-repair lag of the real ``serve``, and its idle memory.

A throwaway database gets a few hundred sessions and a real ``audittrail
serve`` (default configuration: sync every 30 s, commits wake a sync on top).
Writers then commit out-of-band edits at a steady rate, each a versioned
change of a session's title whose ``last_modified_at`` the same transaction
overwrites with a wrong value, so that only sync can put it right. A watcher
polls the edited rows every 20 ms; a row's lag is from the moment its
transaction committed to the first poll that sees it repaired.

Also reported: the daemon's resident memory after start-up with nothing to
do (``VmRSS``), next to the configured sync interval. Not a test: run ::

    .venv/bin/python -m benchmarks.repair_lag [--seconds 30] [--rate 10]
        [--backend postgresql --backend sqlite]

:func:`measure_repair_lag` returns the figures as data for other tools.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from auditd import db
from auditd.models import JobRun, Session
from benchmarks.capture import throwaway_database

__all__ = ["measure_repair_lag"]

WRONG_STAMP = datetime(2001, 1, 1, tzinfo=UTC)
POLL_SECONDS = 0.02
SESSIONS = 2000
IDLE_SECONDS = 5.0


def _seed(engine: sa.Engine, count: int) -> list[int]:
    table = Session.__table__
    with db.write_transaction(engine) as connection:
        connection.execute(sa.insert(table), [{"title": f"talk {n}"} for n in range(count)])
        return list(connection.scalars(sa.select(table.c.id).order_by(table.c.id)))


def _edit(engine: sa.Engine, key: int) -> None:
    """A versioned change, then (same transaction) a stamp only sync can repair."""
    table = Session.__table__
    with db.write_transaction(engine) as connection:
        where = table.c.id == key
        connection.execute(sa.update(table).where(where).values(title=f"edited {time.time()}"))
        connection.execute(sa.update(table).where(where).values(last_modified_at=WRONG_STAMP))


def _repaired(engine: sa.Engine, keys: list[int]) -> list[int]:
    table = Session.__table__
    with engine.connect() as connection:
        return list(
            connection.scalars(
                sa.select(table.c.id).where(
                    table.c.id.in_(keys), table.c.last_modified_at != WRONG_STAMP
                )
            )
        )


class _Daemon:
    """``python -m auditd serve`` on ``url``, ready once it sent ``READY=1``."""

    def __init__(self, url: str, folder: Path, settings: dict[str, str]) -> None:
        self._socket_path = folder / "notify.sock"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self._socket_path))
        env = {key: value for key, value in os.environ.items() if not key.startswith("AUDITD_")}
        env |= {
            "AUDITD_DATABASE_URL": url,
            "AUDITD_SERVICE_STATE_DIR": str(folder / "state"),
            "AUDITD_LOGGING_FORMAT": "json",
            "NOTIFY_SOCKET": str(self._socket_path),
            **settings,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "auditd", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        self._notify.settimeout(timeout)
        while b"READY=1" not in self._notify.recv(4096).split(b"\n"):
            pass

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        return int(kib) / 1024

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self._notify.close()
        return code


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure_repair_lag(
    backend: str, *, seconds: float = 30.0, rate: float = 10.0, sync_interval: int = 30
) -> dict[str, Any]:
    """Run the daemon against ``rate`` out-of-band edits per second for ``seconds``.

    Returns the backend, the configured sync interval, the edit count, the
    lag's median, 99th percentile and maximum in seconds, the edits never
    repaired within the wait, the sync runs the daemon made (woken by a
    commit, and on its schedule) and its idle resident memory in MiB.
    """
    settings = {
        "AUDITD_JOBS_SYNC_INTERVAL_SECONDS": str(sync_interval),
        "AUDITD_JOBS_RECONCILE_ENABLED": "false",
        "AUDITD_JOBS_VERIFY_ENABLED": "false",
    }
    with throwaway_database(backend) as engine, tempfile.TemporaryDirectory() as folder:
        keys = _seed(engine, SESSIONS)
        url = engine.url.render_as_string(hide_password=False)
        daemon = _Daemon(url, Path(folder), settings)
        try:
            daemon.wait_ready()
            time.sleep(IDLE_SECONDS)  # start-up done and the catch-up sync run: idle
            idle_rss = daemon.rss_mib()
            committed: dict[int, float] = {}
            lags: list[float] = []
            lock = threading.Lock()
            writing = threading.Event()
            writing.set()

            def write() -> None:
                interval, next_write = 1 / rate, time.monotonic()
                for key in keys:
                    if not writing.is_set():
                        return
                    _edit(engine, key)
                    with lock:
                        committed[key] = time.monotonic()
                    next_write += interval
                    time.sleep(max(0.0, next_write - time.monotonic()))

            writer = threading.Thread(target=write)
            writer.start()
            deadline = time.monotonic() + seconds
            while writer.is_alive() or committed:
                if time.monotonic() >= deadline:
                    writing.clear()
                if not writer.is_alive() and time.monotonic() > deadline + sync_interval + 10:
                    break  # what is left was never repaired
                with lock:
                    pending = list(committed)
                if pending:
                    seen = time.monotonic()
                    for key in _repaired(engine, pending):
                        with lock:
                            lags.append(seen - committed.pop(key))
                time.sleep(POLL_SECONDS)
            writer.join()
        finally:
            code = daemon.stop()
        with engine.connect() as connection:
            runs = dict(
                connection.execute(
                    sa.select(JobRun.kind, sa.func.count())
                    .where(JobRun.job == "sync")
                    .group_by(JobRun.kind)
                ).all()
            )
    return {
        "backend": backend,
        "sync_interval_seconds": sync_interval,
        "edits": len(lags) + len(committed),
        "edits_per_second": rate,
        "lag_p50_seconds": round(statistics.median(lags), 3) if lags else None,
        "lag_p99_seconds": round(_percentile(lags, 0.99), 3) if lags else None,
        "lag_max_seconds": round(max(lags), 3) if lags else None,
        "unrepaired": len(committed),
        "sync_runs": {"change": runs.get("change", 0), "schedule": runs.get("schedule", 0)},
        "idle_rss_mib": round(idle_rss, 1),
        "exit_code": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the writers write")
    parser.add_argument("--rate", type=float, default=10.0, help="edits committed per second")
    parser.add_argument(
        "--backend", action="append", choices=("postgresql", "sqlite"), help="default: both"
    )
    args = parser.parse_args()
    print(
        f"{'backend':<11} {'sync every':>10} {'edits':>6} {'p50 s':>7} {'p99 s':>7} "
        f"{'max s':>7} {'unrepaired':>10} {'runs (change/timer)':>19} {'idle RSS':>9}"
    )
    for backend in args.backend or ("postgresql", "sqlite"):
        result = measure_repair_lag(backend, seconds=args.seconds, rate=args.rate)
        runs = f"{result['sync_runs']['change']}/{result['sync_runs']['schedule']}"
        print(
            f"{backend:<11} {result['sync_interval_seconds']:>9}s {result['edits']:>6} "
            f"{result['lag_p50_seconds']:>7} {result['lag_p99_seconds']:>7} "
            f"{result['lag_max_seconds']:>7} {result['unrepaired']:>10} {runs:>19} "
            f"{result['idle_rss_mib']:>7} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
