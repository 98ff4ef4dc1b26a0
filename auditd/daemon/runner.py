"""Running one job: lock, claim, batches, outcome, one summary log event.

The order matters. The job's lock is taken first (:mod:`auditd.daemon.locks`), so
two runs of one job never overlap, in any process; then the tick is claimed
(:func:`auditd.daemon.runs.claim_run`), so a tick that another replica already ran
is not run again. Before every batch the run checks for a stop request and
for its lock, so a shutdown or a lost lock ends it between two batches,
never inside one. The outcome is recorded on a fresh connection: the run's
own connection may be the thing that failed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditd import db
from auditd.daemon.locks import JobLock, describe_error, job_lock
from auditd.daemon.progress import ProgressTracker
from auditd.daemon.runs import RunRecord, claim_run, finish_run, record_counters, runner_name
from auditd.errors import AlreadyRunningError
from auditd.logging import get_logger
from auditd.stamps.derive import DerivedStamp, HistoryBound
from auditd.stamps.repair import (
    BatchOutcome,
    InTransaction,
    LeaveAlone,
    batch_settings,
    count_batch,
    repair_batch,
)
from auditd.timestamps import utcnow

__all__ = [
    "JobBody",
    "ProgressCallback",
    "RunHandle",
    "RunInterrupted",
    "execute_run",
]


class RunInterrupted(Exception):
    """A stop was requested; the run ends between two batches."""


# --- running a job -----------------------------------------------------------------

ProgressCallback = Callable[[int, int | None], None]
"""Called after each batch with the rows done so far and the total, if known."""


class RunHandle:
    """What a job function works through: its batch size and batch helpers that
    stop between batches when asked to, or when the job's lock is lost, and
    that count every batch in the run's record."""

    def __init__(
        self,
        engine: sa.Engine,
        job: str,
        *,
        run_id: int | None,
        batch_size: int,
        dry_run: bool = False,
        lock: JobLock | None = None,
        stop: threading.Event | None = None,
        tracker: ProgressTracker | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.engine = engine
        self.job = job
        self.run_id = run_id
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.total: int | None = None
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.watermark_from: int | None = None
        self.watermark_to: int | None = None
        self.findings: dict[str, Any] = {}
        self._lock = lock
        self._stop = stop
        self._tracker = tracker
        self._progress = progress

    def checkpoint(self) -> None:
        """Raise :class:`RunInterrupted` if a stop was requested, LockLostError
        if the job's lock is gone; called before every batch."""
        if self._stop is not None and self._stop.is_set():
            raise RunInterrupted(f"{self.job} stopped between batches")
        if self._lock is not None:
            self._lock.check()

    def repair(
        self,
        stamp: DerivedStamp,
        keys: Sequence[int],
        *,
        also: InTransaction | None = None,
        bound: HistoryBound | None = None,
        leave_alone: LeaveAlone | None = None,
    ) -> BatchOutcome:
        """Repair one batch; ``also`` runs inside the batch's transaction;
        ``bound``: what is known of the keys' older history; ``leave_alone``:
        which drifted rows not to repair."""
        self.checkpoint()

        def bookkeeping(connection: sa.Connection, outcome: BatchOutcome) -> None:
            if self.run_id is not None:
                record_counters(connection, self.run_id, outcome)
            if also is not None:
                also(connection, outcome)

        outcome = repair_batch(
            self.engine,
            stamp,
            keys,
            in_transaction=bookkeeping,
            bound=bound,
            leave_alone=leave_alone,
        )
        self._count(outcome)
        return outcome

    def inspect(
        self,
        stamp: DerivedStamp,
        keys: Sequence[int],
        *,
        bound: HistoryBound | None = None,
        leave_alone: LeaveAlone | None = None,
    ) -> BatchOutcome:
        """Count drift in one batch without repairing it."""
        self.checkpoint()
        outcome = count_batch(self.engine, stamp, keys, bound=bound, leave_alone=leave_alone)
        if self.run_id is not None:
            with db.writer(self.engine).begin() as connection:
                batch_settings(connection)
                record_counters(connection, self.run_id, outcome)
        self._count(outcome)
        return outcome

    def tally(self, outcome: BatchOutcome) -> None:
        """Count work a job did in its own transactions (a ledger block, a prune
        batch) in the run's record."""
        if self.run_id is not None:
            with db.writer(self.engine).begin() as connection:
                record_counters(connection, self.run_id, outcome)
        self._count(outcome)

    def _count(self, outcome: BatchOutcome) -> None:
        for name, count in outcome.counters().items():
            self.counters[name] += count
        if self._tracker is not None:
            self._tracker.beat(self.job)
        if self._progress is not None:
            self._progress(self.counters["rows_scanned"], self.total)


_COUNTERS = ("rows_scanned", "rows_drifted", "rows_repaired", "rows_skipped", "rows_unversioned")
JobBody = Callable[[RunHandle], None]


def execute_run(
    engine: sa.Engine,
    job: str,
    body: JobBody,
    *,
    batch_size: int,
    kind: str = "manual",
    scheduled_for: datetime | None = None,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    tracker: ProgressTracker | None = None,
    progress: ProgressCallback | None = None,
) -> RunRecord | None:
    """Run ``body`` as one run of ``job``: lock, claim, run, record, log one summary.

    Returns the finished run's record; None when a scheduled run did not
    happen (another runner holds the job's lock or already claimed the
    tick, or a stop was requested). A failing ``body`` does not raise: the
    run is recorded as failed and the record says why. A dry run takes no
    lock and is not recorded (its record has ``id`` None).

    Raises AlreadyRunningError when a manual run finds the job running.
    """
    log = get_logger(__name__).bind(job=job, kind=kind)
    if dry_run:
        return _run_unrecorded(engine, job, body, batch_size, stop, progress)
    lock = job_lock(engine, job)
    if not lock.acquire():
        if kind == "manual":
            raise AlreadyRunningError(
                f"job {job} is running in another process", "wait for it to finish and retry"
            )
        log.debug("job skipped: running elsewhere", scheduled_for=scheduled_for)
        return None
    try:
        if stop is not None and stop.is_set():
            return None
        run_id = claim_run(engine, job, kind=kind, scheduled_for=scheduled_for)
        if run_id is None:
            log.debug("job skipped: tick already claimed", scheduled_for=scheduled_for)
            return None
        handle = RunHandle(
            engine,
            job,
            run_id=run_id,
            batch_size=batch_size,
            lock=lock,
            stop=stop,
            tracker=tracker,
            progress=progress,
        )
        return _run_recorded(engine, handle, body, kind, scheduled_for, log)
    finally:
        lock.release()


def _run_recorded(
    engine: sa.Engine,
    handle: RunHandle,
    body: JobBody,
    kind: str,
    scheduled_for: datetime | None,
    log: Any,
) -> RunRecord:
    assert handle.run_id is not None
    started = time.monotonic()
    status, error, failure = "succeeded", None, None
    try:
        body(handle)
    except RunInterrupted:
        status = "interrupted"
    except BaseException as exc:  # recorded, then re-raised below if not an Exception
        status = "failed" if isinstance(exc, Exception) else "interrupted"
        error, failure = describe_error(exc), exc
    detail = json.dumps(handle.findings, sort_keys=True) if handle.findings else None
    try:
        record = finish_run(
            engine,
            handle.run_id,
            status=status,
            error=error,
            detail=detail,
            watermark_from=handle.watermark_from,
            watermark_to=handle.watermark_to,
        )
    except sa.exc.DBAPIError as exc:
        log.error(
            "could not record the run's outcome", run_id=handle.run_id, error=describe_error(exc)
        )
        record = _unrecorded_record(handle, kind, status, error, detail, scheduled_for)
    summary = {
        "run_id": record.id,
        "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
        **{name: getattr(record, name) for name in _COUNTERS},
        "duration_seconds": round(time.monotonic() - started, 3),
        "outcome": status,
    }
    if failure is not None and isinstance(failure, Exception):
        log.error("job run finished", error=error, exc_info=failure, **summary)
    elif failure is not None:
        log.warning("job run finished", error=error, **summary)
        raise failure
    else:
        log.info("job run finished", **summary)
    return record


def _run_unrecorded(
    engine: sa.Engine,
    job: str,
    body: JobBody,
    batch_size: int,
    stop: threading.Event | None,
    progress: ProgressCallback | None,
) -> RunRecord:
    handle = RunHandle(
        engine, job, run_id=None, batch_size=batch_size, dry_run=True, stop=stop, progress=progress
    )
    status = "succeeded"
    try:
        body(handle)
    except RunInterrupted:
        status = "interrupted"
    detail = json.dumps(handle.findings, sort_keys=True) if handle.findings else None
    return _unrecorded_record(handle, "manual", status, None, detail, None)


def _unrecorded_record(
    handle: RunHandle,
    kind: str,
    status: str,
    error: str | None,
    detail: str | None,
    scheduled_for: datetime | None,
) -> RunRecord:
    return RunRecord(
        id=handle.run_id,
        job=handle.job,
        kind=kind,
        scheduled_for=scheduled_for,
        runner=runner_name(),
        started_at=utcnow(),
        finished_at=utcnow(),
        status=status,
        watermark_from=handle.watermark_from,
        watermark_to=handle.watermark_to,
        error=error,
        detail=detail,
        **handle.counters,
    )
