"""The stamp jobs, as thin functions over :mod:`auditd.stamps`.

* ``sync``: incremental. Repairs the rows touched by transactions at or
  after the watermark (:mod:`auditd.stamps.horizon`); its cost follows the number
  of new changes, not the size of the tables.
* ``reconcile``: full. Walks every row of every stamped table in keyset
  batches and repairs each difference from history, catching what sync
  cannot see (a hand edit of ``last_modified_at`` alone writes no version).
* ``verify``: counts drift without repairing it and checks that change
  capture is complete.

:func:`run_job` runs one of them once, recorded like a scheduled run; the
scheduler and the command line both call it, also for the ledger's jobs
(``seal`` and ``prune``, :mod:`auditd.daemon.ledger_jobs`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from auditd import capture, db, registry
from auditd.config import JobSettings, Settings
from auditd.daemon.ledger_jobs import ledger_job_body
from auditd.daemon.progress import ProgressTracker
from auditd.daemon.runner import JobBody, ProgressCallback, RunHandle, execute_run
from auditd.daemon.runs import RunRecord, last_runs
from auditd.daemon.scheduler import next_run_time
from auditd.errors import INTEGRITY_HINT, IntegrityError
from auditd.ledger.linkage import broken_rows, rows_linkage_problems
from auditd.logging import get_logger
from auditd.models.audit import TRANSACTION
from auditd.stamps.derive import DerivedStamp, load_stamps
from auditd.stamps.horizon import changes_since, next_watermark
from auditd.stamps.repair import BatchOutcome, count_rows, key_batches
from auditd.stamps.statistics import audit_tables, refresh_stale
from auditd.stamps.watermark import Watermark, read_watermark, store_watermark
from auditd.timestamps import utcnow

__all__ = [
    "JOB_BODIES",
    "JobOverview",
    "job_overview",
    "reconcile_all",
    "run_job",
    "sync_changed_since_watermark",
    "verify_all",
]

# How many drifted keys per table a verify run keeps in its record, as examples.
DRIFT_SAMPLE = 20


def _chunks(keys: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(keys), size):
        yield list(keys[start : start + size])


def _refresh_statistics(handle: RunHandle, stamps: Sequence[DerivedStamp]) -> None:
    """Before a full pass: analyse the audit tables whose statistics went stale
    (see :mod:`auditd.stamps.statistics`)."""
    analysed = refresh_stale(handle.engine, audit_tables(stamps))
    if analysed:
        get_logger(__name__).info("statistics refreshed", job=handle.job, tables=list(analysed))


class _BrokenRows:
    """The rows a run leaves alone because their history's linkage is broken
    (tampered with): following it would write a wrong stamp.

    Only the rows a batch would repair are checked (its drifted rows, in the
    batch's transaction): a row whose stamp already agrees with its history
    is not written whatever its history, and checking every row of a full
    pass would cost as much as the pass. ``verify --integrity`` checks all.
    """

    def __init__(self) -> None:
        self.rows: dict[str, set[int]] = {}
        self._problems: list[str] = []

    def leave_alone(self, connection: sa.Connection, table: str, keys: Sequence[int]) -> set[int]:
        """The rows among ``keys`` whose history is broken (remembered here)."""
        known = registry.load(connection, cached=True)
        bad = broken_rows(connection, known, table, keys)
        if bad:
            problems = rows_linkage_problems(connection, known, table, sorted(bad))
            self.rows.setdefault(table, set()).update(bad)
            self._problems += [str(problem) for problem in problems]
        return bad

    def refuse(self, handle: RunHandle) -> None:
        """Raise IntegrityError (the run fails) if any row was left alone."""
        if not self.rows:
            return
        handle.findings["broken_linkage"] = self._problems[:DRIFT_SAMPLE]
        left = ", ".join(
            f"{table} {', '.join(str(key) for key in sorted(keys)[:DRIFT_SAMPLE])}"
            for table, keys in sorted(self.rows.items())
        )
        raise IntegrityError(
            f"left {sum(len(keys) for keys in self.rows.values())} rows alone whose history "
            f"is broken ({left}): {self._problems[0]}",
            INTEGRITY_HINT,
        )


def sync_changed_since_watermark(handle: RunHandle) -> None:
    """Repair every row touched since the watermark, then advance it.

    The new watermark is written in the transaction of the last batch, so
    it never moves past work that did not commit. Rows skipped because they
    were locked hold it back to their first change, so the next sync looks
    at them again. A dry run only counts and leaves the watermark alone.
    When rows were repaired, the run's findings say when the oldest change
    among them was made (``oldest_repaired_change_at``): the commit-to-repair
    lag of the metrics.
    """
    stamps = load_stamps(handle.engine)
    watermark = read_watermark(handle.engine)
    changes = changes_since(handle.engine, watermark, stamps)
    handle.watermark_from = watermark.transaction_id
    handle.total = changes.count()
    broken = _BrokenRows()
    batches = [
        (stamp, chunk)
        for stamp in stamps
        for chunk in _chunks(sorted(changes.keys.get(stamp.table, {})), handle.batch_size)
    ]
    if handle.dry_run:
        for stamp, chunk in batches:
            handle.inspect(stamp, chunk, bound=watermark.bound, leave_alone=broken.leave_alone)
        broken.refuse(handle)
        return
    unprocessed: dict[str, set[int]] = {stamp.table: set() for stamp in stamps}
    new_watermark: list[Watermark] = []

    def advance(connection: sa.Connection, outcome: BatchOutcome) -> None:
        unprocessed[outcome.table].update(outcome.skipped)
        # A row with broken history holds the watermark back, like a locked one.
        for table, keys in broken.rows.items():
            unprocessed[table].update(keys)
        new_watermark.append(next_watermark(changes, unprocessed))
        store_watermark(connection, new_watermark[-1], started_from=watermark)

    if not batches:  # nothing to repair, but the watermark still moves on
        handle.checkpoint()
        new_watermark.append(next_watermark(changes, unprocessed))
        with db.write_transaction(handle.engine) as connection:
            store_watermark(connection, new_watermark[-1], started_from=watermark)
    repaired_since: list[int] = []  # the first transaction of each repaired row
    for index, (stamp, chunk) in enumerate(batches):
        last = index == len(batches) - 1
        outcome = handle.repair(
            stamp,
            chunk,
            also=advance if last else None,
            bound=watermark.bound,
            leave_alone=broken.leave_alone,
        )
        unprocessed[stamp.table].update(outcome.skipped)
        first = changes.keys.get(stamp.table, {})
        repaired_since.extend(first[key] for key in outcome.drifted_keys if key in first)
    handle.watermark_to = new_watermark[-1].transaction_id
    if repaired_since:
        oldest = _issued_at(handle.engine, min(repaired_since))
        if oldest is not None:
            handle.findings = {"oldest_repaired_change_at": oldest.isoformat()}
    broken.refuse(handle)


def _issued_at(engine: sa.Engine, transaction_id: int) -> datetime | None:
    """When a transaction wrote its first change (its row's ``issued_at``)."""
    with engine.connect() as connection:
        issued: datetime | None = connection.scalar(
            sa.select(TRANSACTION.c.issued_at).where(TRANSACTION.c.id == transaction_id)
        )
    return issued


def reconcile_all(handle: RunHandle) -> None:
    """Re-derive every row of every stamped table and repair each difference.

    Rows locked by another transaction are skipped and counted: whoever
    holds the lock stamps the row when it writes, and the next run looks
    again. A dry run only counts.
    """
    stamps = load_stamps(handle.engine)
    _refresh_statistics(handle, stamps)
    handle.total = sum(count_rows(handle.engine, stamp) for stamp in stamps)
    broken = _BrokenRows()
    for stamp in stamps:
        for keys in key_batches(handle.engine, stamp, handle.batch_size):
            if handle.dry_run:
                handle.inspect(stamp, keys, leave_alone=broken.leave_alone)
            else:
                handle.repair(stamp, keys, leave_alone=broken.leave_alone)
    broken.refuse(handle)


def verify_all(handle: RunHandle) -> None:
    """Count drift in every row without repairing, and check change capture.

    The findings (capture problems, up to 20 drifted keys per table) are
    stored with the run and logged as a warning when anything is wrong.
    """
    with handle.engine.connect() as connection:
        problems = [str(problem) for problem in capture.verify(connection)]
    stamps = load_stamps(handle.engine)
    _refresh_statistics(handle, stamps)
    handle.total = sum(count_rows(handle.engine, stamp) for stamp in stamps)
    samples: dict[str, list[int]] = {}
    for stamp in stamps:
        sample = samples.setdefault(stamp.table, [])
        for keys in key_batches(handle.engine, stamp, handle.batch_size):
            outcome = handle.inspect(stamp, keys)
            sample.extend(outcome.drifted_keys[: DRIFT_SAMPLE - len(sample)])
    handle.findings = {"capture_problems": problems, "drifted_keys": samples}
    drifted = handle.counters["rows_drifted"]
    if drifted or problems:
        get_logger(__name__).warning(
            "verify found problems",
            rows_drifted=drifted,
            drifted_keys=samples,
            capture_problems=problems,
        )


JOB_BODIES: Mapping[str, JobBody] = {
    "sync": sync_changed_since_watermark,
    "reconcile": reconcile_all,
    "verify": verify_all,
}


def run_job(
    engine: sa.Engine,
    settings: Settings,
    job: str,
    *,
    kind: str = "manual",
    scheduled_for: datetime | None = None,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    tracker: ProgressTracker | None = None,
    progress: ProgressCallback | None = None,
) -> RunRecord | None:
    """Run ``job`` (sync, reconcile, verify, seal or prune) once; see
    :func:`auditd.daemon.runner.execute_run`.

    Returns the run's record (its ``status`` says whether it succeeded), or
    None when a scheduled run was not this process's to do. Raises
    AlreadyRunningError when a manual run finds the job running elsewhere.
    """
    return execute_run(
        engine,
        job,
        ledger_job_body(job, settings) or JOB_BODIES[job],
        batch_size=settings.service.batch_size,
        kind=kind,
        scheduled_for=scheduled_for,
        dry_run=dry_run,
        stop=stop,
        tracker=tracker,
        progress=progress,
    )


@dataclass(frozen=True, kw_only=True)
class JobOverview:
    """One line of ``audittrail jobs``."""

    job: str
    settings: JobSettings
    last_run: RunRecord | None
    next_run: datetime | None
    watermark: int | None


def job_overview(engine: sa.Engine, settings: Settings) -> list[JobOverview]:
    """Each job's schedule, last recorded run and next due time (None when disabled).

    The next time is when a running ``serve`` would start it; it is computed
    from the schedule, not read from a running process.
    """
    now = utcnow()
    runs = last_runs(engine, tuple(settings.jobs))
    watermark = read_watermark(engine)
    return [
        JobOverview(
            job=name,
            settings=job,
            last_run=runs[name],
            next_run=next_run_time(job, now) if job.enabled else None,
            watermark=watermark.transaction_id if name == "sync" else None,
        )
        for name, job in settings.jobs.items()
    ]
