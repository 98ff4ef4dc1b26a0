"""Three ``serve`` replicas on one PostgreSQL database: every tick of every job
runs at most once, two runs of one job never overlap, and the invariant holds
while an application keeps writing."""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

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
    set_stamp_only,
    with_password,
)
from test_service import wait_until

from auditd.config import load_settings
from auditd.daemon.jobs import run_job

REPLICAS = 3
INTERVALS = {"sync": 1, "verify": 2, "reconcile": 3}
# Enough scheduled runs of every job, and writes by the application meanwhile,
# to have seen the replicas compete for many ticks.
RUNS_PER_JOB = 8
APPLICATION_ROUNDS = 20

pytestmark = pytest.mark.usefixtures(live_logging.__name__)


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_three_replicas_run_each_tick_once_and_never_overlap_a_job(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    ids = add_sessions(engine, 300)
    settings = {
        f"AUDITD_JOBS_{job.upper()}_INTERVAL_SECONDS": str(s) for job, s in INTERVALS.items()
    }
    settings["AUDITD_SERVICE_BATCH_SIZE"] = "25"
    sockets = []
    for number in range(REPLICAS):
        (tmp_path / f"replica{number}").mkdir()
        sockets.append(NotifySocket(tmp_path / f"replica{number}"))
    replicas = [
        ServeProcess(
            with_password(database_url), tmp_path / "state", notify=sockets[n], settings=settings
        )
        for n in range(REPLICAS)
    ]
    stop = threading.Event()
    rounds: list[int] = []

    def application() -> None:  # keeps creating drift of both kinds
        chooser = random.Random(7)  # noqa: S311
        while not stop.wait(0.5):
            change_title_then_break_stamp(engine, chooser.sample(ids, 3), f"t{time.monotonic()}")
            set_stamp_only(engine, chooser.sample(ids, 2))
            rounds.append(1)

    def enough_seen() -> bool:
        runs = [run for run in job_runs(engine) if run["kind"] == "schedule"]
        finished = {
            job: [r for r in runs if r["job"] == job and r["finished_at"]] for job in INTERVALS
        }
        return (
            len(rounds) >= APPLICATION_ROUNDS
            and all(len(done) >= RUNS_PER_JOB for done in finished.values())
            and len({run["runner"] for run in runs}) >= 2
        )

    writer = threading.Thread(target=application)
    try:
        for notify in sockets:
            notify.wait_for("READY=1", timeout=60)
        started = time.monotonic()
        writer.start()
        wait_until(enough_seen, timeout=300, what="every job run often by several replicas")
        stop.set()
        writer.join(timeout=30)
        for replica in replicas:
            replica.send(signal.SIGTERM)
        assert [replica.wait(timeout=60) for replica in replicas] == [0] * REPLICAS
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for replica in replicas:
            replica.stop()
        for notify in sockets:
            notify.close()

    runs = job_runs(engine)
    by_job = defaultdict(list)
    for run in runs:
        by_job[run["job"]].append(run)
    for job, interval in INTERVALS.items():
        # Every run of the job, also syncs woken by commits (kind "change"), never overlaps.
        job_list = sorted(by_job[job], key=lambda run: run["started_at"])
        for earlier, later in itertools.pairwise(job_list):
            assert earlier["finished_at"] is not None
            assert earlier["finished_at"] <= later["started_at"], f"two {job} runs overlapped"
        assert {run["status"] for run in job_list} <= {"succeeded", "interrupted"}
        ticks = [run["scheduled_for"] for run in job_list if run["kind"] == "schedule"]
        assert len(ticks) == len(set(ticks)), f"a {job} tick ran twice"
        # At most one run per tick (not one per replica); on a busy machine a
        # run can outlast its interval and skip ticks.
        assert RUNS_PER_JOB <= len(ticks) <= elapsed / interval + 2
    assert len({run["runner"] for run in runs}) >= 2, "one replica did all the work"

    final = load_settings(environ={}, overrides={"database.url": database_url})
    run_job(engine, final, "reconcile")
    assert drifted_keys(engine) == []
