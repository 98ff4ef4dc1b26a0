"""Each job's progress, tracked on its own: what the watchdog, the status line,
``/healthz`` and the metrics report.

A job *makes progress* when one of its runs commits a batch or ends well
(succeeded, interrupted by a stop, or not this process's to do because
another replica has it). A job is *stalled*

* while a run of it is in progress and has committed nothing for longer
  than the run limit (every statement is bounded by the database's
  timeouts, so a run quiet for longer is stuck: a network partition that no
  timeout covers), or
* while its runs keep failing or cannot start, once it has owed progress
  for longer than the run limit plus one period of its schedule (so one
  failed run is forgiven if the next one succeeds).

One job's stall is not hidden by other jobs running well: there is no
shared heartbeat that any job could reset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditd.timestamps import utcnow

__all__ = ["GOOD_OUTCOMES", "JobProgress", "ProgressTracker", "Stall", "StallLimit"]

GOOD_OUTCOMES = frozenset({"succeeded", "interrupted", "skipped"})


@dataclass(frozen=True, kw_only=True)
class StallLimit:
    """How long a job may go without progress: ``run_seconds`` inside a run,
    ``run_seconds + period_seconds`` while its runs fail."""

    run_seconds: float
    period_seconds: float


@dataclass(frozen=True, kw_only=True)
class Stall:
    """A job that made no progress for too long, and why."""

    job: str
    since: datetime
    seconds: float
    running: bool
    error: str | None

    def describe(self) -> str:
        """One line: ``reconcile: no progress since 2026-…+00:00 (45 s, run in progress)``."""
        state = "run in progress" if self.running else f"failing: {self.error or 'unknown'}"
        return (
            f"{self.job}: no progress since {self.since.isoformat(timespec='seconds')} "
            f"({self.seconds:.0f} s, {state})"
        )


@dataclass
class JobProgress:
    """What one job did last (a mutable record, read through snapshots)."""

    running: int = 0  # runs in progress in this process (a change-run can meet a tick)
    last_beat: float = 0.0  # monotonic; the last progress of the runs in progress
    last_beat_at: datetime | None = None
    owing_since: float | None = None  # monotonic; None: nothing owed
    owing_since_at: datetime | None = None
    failing_since: datetime | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    last_finished_at: datetime | None = None


class ProgressTracker:
    """Thread-safe progress of every job: runs report, the main loop reads."""

    def __init__(self, limits: Mapping[str, StallLimit]) -> None:
        self._condition = threading.Condition()
        self._limits = dict(limits)
        self._jobs: dict[str, JobProgress] = {}

    def configure(self, limits: Mapping[str, StallLimit]) -> None:
        """New limits (after a reload); a job without one is never stalled."""
        with self._condition:
            self._limits = dict(limits)

    def _job(self, job: str) -> JobProgress:
        return self._jobs.setdefault(job, JobProgress())

    def started(self, job: str) -> None:
        """A run of ``job`` begins (from here on, a stop waits for it)."""
        now, wall = time.monotonic(), utcnow()
        with self._condition:
            state = self._job(job)
            if not state.running:  # a second, overlapping start must not hide a hang
                state.last_beat, state.last_beat_at = now, wall
            state.running += 1
            if state.owing_since is None:
                state.owing_since, state.owing_since_at = now, wall

    def beat(self, job: str) -> None:
        """A run of ``job`` committed a batch."""
        now, wall = time.monotonic(), utcnow()
        with self._condition:
            state = self._job(job)
            state.last_beat, state.last_beat_at = now, wall
            state.owing_since, state.owing_since_at = now, wall

    def finished(self, job: str, outcome: str, error: str | None = None) -> None:
        """A run of ``job`` ended; ``outcome`` is a run status, ``skipped``
        (another runner had it) or ``error`` (it could not even start)."""
        with self._condition:
            state = self._job(job)
            state.running = max(state.running - 1, 0)
            state.last_outcome, state.last_finished_at = outcome, utcnow()
            if outcome in GOOD_OUTCOMES and state.running:
                pass  # skipped beside a run of ours that is still going: it decides
            elif outcome in GOOD_OUTCOMES:
                state.owing_since = state.owing_since_at = state.failing_since = None
                state.last_error = None
            else:
                state.failing_since = state.failing_since or utcnow()
                state.last_error = error
            self._condition.notify_all()

    def active(self) -> list[str]:
        """The jobs with a run in progress."""
        with self._condition:
            return sorted(job for job, state in self._jobs.items() if state.running)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is in progress; False if ``timeout`` seconds passed first."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not any(state.running for state in self._jobs.values()), timeout=timeout
            )

    def snapshot(self) -> dict[str, JobProgress]:
        """A copy of every job's record."""
        with self._condition:
            return {job: JobProgress(**vars(state)) for job, state in self._jobs.items()}

    def stalls(self) -> list[Stall]:
        """The enabled jobs that made no progress for longer than their limit."""
        now, wall = time.monotonic(), utcnow()
        found = []
        with self._condition:
            for job, limit in sorted(self._limits.items()):
                state = self._jobs.get(job)
                if state is None:
                    continue
                if state.running:
                    quiet, allowed = now - state.last_beat, limit.run_seconds
                    since_at = state.last_beat_at
                elif state.owing_since is not None:
                    quiet = now - state.owing_since
                    allowed = limit.run_seconds + limit.period_seconds
                    since_at = state.owing_since_at
                else:
                    continue
                if quiet > allowed:
                    found.append(
                        Stall(
                            job=job,
                            since=since_at or wall - timedelta(seconds=quiet),
                            seconds=quiet,
                            running=bool(state.running),
                            error=state.last_error,
                        )
                    )
        return found
