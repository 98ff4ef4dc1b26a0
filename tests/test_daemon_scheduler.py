"""Schedules: ticks every replica agrees on, crontab semantics, atomic reloads,
and runs that fail without stopping the schedule."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from test_daemon_support import live_logging

from auditd.config import JobSettings, load_settings
from auditd.config.crontab import crontab_trigger
from auditd.daemon.runner import execute_run
from auditd.daemon.scheduler import JobScheduler, next_run_time, scheduled_tick

pytestmark = pytest.mark.usefixtures(live_logging.__name__)


def job(**options: object) -> JobSettings:
    return JobSettings(name="sync", misfire_grace_seconds=5, **options)  # type: ignore[arg-type]


def test_interval_ticks_are_anchored_at_the_epoch_so_replicas_agree() -> None:
    every_30s = job(interval_seconds=30)
    one = datetime(2026, 11, 26, 10, 0, 30, 4000, tzinfo=UTC)  # two replicas, 0.4 s apart
    other = one + timedelta(milliseconds=400)

    assert scheduled_tick(every_30s, one) == scheduled_tick(every_30s, other)
    assert scheduled_tick(every_30s, one) == datetime(2026, 11, 26, 10, 0, 30, tzinfo=UTC)
    assert next_run_time(every_30s, one) == datetime(2026, 11, 26, 10, 1, tzinfo=UTC)


def test_a_cron_tick_is_the_latest_scheduled_time_not_after_now() -> None:
    nightly = job(cron="0 3 * * *")
    late = datetime(2026, 11, 26, 3, 0, 2, tzinfo=UTC)

    assert scheduled_tick(nightly, late) == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def test_crontab_weekdays_count_from_sunday_as_in_cron_not_as_in_apscheduler_3() -> None:
    thursday = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def next_day(expression: str) -> str:
        fire = crontab_trigger(expression).get_next_fire_time(None, thursday)
        assert fire is not None
        return fire.strftime("%a %d")

    assert next_day("0 3 * * 0") == "Sun 29"
    assert next_day("0 3 * * 1-5") == "Fri 27"
    assert next_day("0 3 * * 6") == "Sat 28"
    assert next_day("0 3 * * sun") == "Sun 29"


def test_reloading_schedules_applies_all_changes_and_keeps_firing() -> None:
    fired: list[str] = []
    jobs = load_settings(environ={}).jobs
    scheduler = JobScheduler(jobs, lambda name, _tick: fired.append(name))
    scheduler.start()
    try:
        assert scheduler.is_alive()
        faster = {
            name: JobSettings(name=name, interval_seconds=1, misfire_grace_seconds=5)
            for name in jobs
        }
        faster["verify"] = JobSettings(
            name="verify", enabled=False, interval_seconds=1, misfire_grace_seconds=5
        )

        changed = scheduler.apply(faster)
        time.sleep(2.3)
    finally:
        scheduler.shutdown()

    running = set(jobs) - {"verify"}
    assert sorted(changed) == sorted(jobs)  # every default schedule changed
    assert set(scheduler.next_run_times()) <= running
    assert running <= set(fired) and "verify" not in fired
    assert not scheduler.is_alive()


def test_a_run_that_raises_is_recorded_as_failed_and_the_next_run_succeeds(
    engine: sa.Engine,
) -> None:
    def broken(_handle: object) -> None:
        raise RuntimeError("disk on fire")

    failed = execute_run(engine, "verify", broken, batch_size=10)
    succeeded = execute_run(engine, "verify", lambda _handle: None, batch_size=10)

    assert failed is not None and failed.status == "failed"
    assert failed.error == "RuntimeError: disk on fire"
    assert succeeded is not None and succeeded.status == "succeeded"


def test_a_stop_request_ends_a_run_between_batches(engine: sa.Engine) -> None:
    stop = threading.Event()
    batches: list[int] = []

    def body(handle: object) -> None:
        for number in range(100):
            handle.checkpoint()  # type: ignore[attr-defined]
            batches.append(number)
            if number == 2:
                stop.set()

    record = execute_run(engine, "reconcile", body, batch_size=10, stop=stop)

    assert record is not None and record.status == "interrupted"
    assert batches == [0, 1, 2]
