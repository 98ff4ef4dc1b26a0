"""APScheduler 3 behind a small interface (cron expressions: :mod:`auditd.config.crontab`).

Jobs live in the default in-memory job store, built from configuration at
start and on reload: nothing is pickled into the database, and replicas do
not share a job store (APScheduler's documentation forbids it). What makes
replicas cooperate is the tick: every replica computes the same scheduled
times, because interval schedules are anchored at the Unix epoch rather
than at each process's start, and cron schedules are evaluated in UTC. A run
claims its tick in the database (:mod:`auditd.daemon.runs`).

Every job has ``coalesce=True`` (a backlog of missed ticks runs once),
``max_instances=1`` (never alongside itself in this process) and the
configured ``misfire_grace_time`` (a run later than that is skipped).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from auditd.config import JobSettings
from auditd.config.crontab import crontab_trigger

__all__ = ["JobScheduler", "build_trigger", "next_run_time", "period_seconds", "scheduled_tick"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def build_trigger(job: JobSettings) -> BaseTrigger:
    """The APScheduler trigger for ``job``'s schedule, the same in every replica."""
    if job.cron is not None:
        return crontab_trigger(job.cron)
    assert job.interval_seconds is not None
    return IntervalTrigger(seconds=job.interval_seconds, start_date=EPOCH, timezone=UTC)


def next_run_time(job: JobSettings, now: datetime) -> datetime | None:
    """When ``job`` is next due after ``now``."""
    fire: datetime | None = build_trigger(job).get_next_fire_time(None, now)
    return fire


def period_seconds(job: JobSettings, now: datetime) -> float:
    """Seconds between ``job``'s next two ticks after ``now`` (its interval, or
    the gap its cron schedule leaves there)."""
    if job.interval_seconds is not None:
        return float(job.interval_seconds)
    trigger = build_trigger(job)
    first: datetime | None = trigger.get_next_fire_time(None, now)
    if first is None:
        return 0.0
    second: datetime | None = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    return 0.0 if second is None else (second - first).total_seconds()


def scheduled_tick(job: JobSettings, now: datetime) -> datetime:
    """The scheduled time of the run that starts at ``now``: the latest tick of
    the schedule not after ``now``. Replicas compute the same value for the
    same tick, which makes it a key they can claim."""
    if job.interval_seconds is not None:
        seconds = int((now - EPOCH).total_seconds()) // job.interval_seconds * job.interval_seconds
        return EPOCH + timedelta(seconds=seconds)
    trigger = build_trigger(job)
    # APScheduler only runs a tick within the grace time, so look back that far.
    cursor = now - timedelta(seconds=job.misfire_grace_seconds + 1)
    latest = None
    fire = trigger.get_next_fire_time(None, cursor)
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest if latest is not None else now.replace(microsecond=0)


RunCallback = Callable[[str, datetime], None]
"""Called in a worker thread with the job name and its scheduled tick."""


class JobScheduler:
    """Fires the enabled jobs on their schedules in a background thread."""

    def __init__(self, jobs: Mapping[str, JobSettings], run: RunCallback) -> None:
        self._jobs = dict(jobs)
        self._run = run
        self._guard = threading.Lock()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=max(len(jobs), 1))},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        """Schedule the enabled jobs and start the scheduler thread."""
        for name, job in self._jobs.items():
            if job.enabled:
                self._add(name, job, build_trigger(job))
        self._scheduler.start()

    def _add(self, name: str, job: JobSettings, trigger: BaseTrigger) -> None:
        self._scheduler.add_job(
            self._fire,
            trigger,
            args=(name,),
            id=name,
            name=name,
            misfire_grace_time=job.misfire_grace_seconds,
            replace_existing=True,
        )

    def _fire(self, name: str) -> None:
        with self._guard:
            job = self._jobs[name]
        self._run(name, scheduled_tick(job, datetime.now(UTC)))

    def apply(self, jobs: Mapping[str, JobSettings]) -> list[str]:
        """Replace the schedules with ``jobs``, all at once; returns the names
        of the jobs whose schedule changed.

        The scheduler is paused while the jobs change, so no tick fires under
        a half-applied configuration. Runs in progress are not affected.
        """
        triggers = {name: build_trigger(job) for name, job in jobs.items() if job.enabled}
        changed = [name for name, job in jobs.items() if self._jobs.get(name) != job]
        self._scheduler.pause()
        try:
            with self._guard:
                for name in changed:
                    job = jobs[name]
                    if self._scheduler.get_job(name) is not None:
                        self._scheduler.remove_job(name)
                    if job.enabled:
                        self._add(name, job, triggers[name])
                self._jobs = dict(jobs)
        finally:
            self._scheduler.resume()
        return changed

    def next_run_times(self) -> dict[str, datetime | None]:
        """Each scheduled job's next fire time (disabled jobs are absent)."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def is_alive(self) -> bool:
        """True while the scheduler thread runs."""
        thread: Any = getattr(self._scheduler, "_thread", None)
        return bool(self._scheduler.running and thread is not None and thread.is_alive())

    def shutdown(self) -> None:
        """Stop firing new runs; runs in progress continue (the caller waits for them)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
