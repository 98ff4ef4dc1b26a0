"""``audittrail serve``: the daemon's lifecycle around the scheduler.

The shape is a plain worker loop: start up (:mod:`.startup`), loop (a stop
or reload requested? the watchdog, the status line, sleep), tear down in
``finally``. Signal handlers are installed before anything else
(:mod:`.signals`), so a stop during start-up exits 0 without ``READY=1``.

* **Watchdog.** ``WATCHDOG=1`` every half ``WATCHDOG_USEC``, from the main
  loop, only while the scheduler thread is alive and no enabled job is
  stalled (:mod:`.progress`: each job is judged on its own). ``STATUS=``
  says which job is failing or stuck, and since when; ``/healthz`` answers
  the same question over HTTP (:mod:`.metrics`).
* **Sync on change.** With ``service.sync_on_change``, commits wake a sync
  within a fraction of a second (:mod:`.changes`); the schedule stays.
* **Signals.** The first SIGTERM/SIGINT stops the scheduler, lets the running
  batches finish (no new batch starts) and exits 0 within
  ``service.shutdown_timeout_seconds``; a batch still running then is
  abandoned, and the database rolls it back. A second signal exits at once.
  SIGHUP reloads the configuration: all job schedules change at once, or,
  if the new configuration is invalid, nothing changes.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from auditd.config import Settings
from auditd.daemon import startup
from auditd.daemon.changes import ChangeWatcher, CoalescingSync
from auditd.daemon.jobs import run_job
from auditd.daemon.locks import DatabaseFileLock, describe_error
from auditd.daemon.notify import SystemdNotifier
from auditd.daemon.progress import ProgressTracker, Stall, StallLimit
from auditd.daemon.runs import RunRecord
from auditd.daemon.scheduler import JobScheduler, period_seconds
from auditd.daemon.signals import SIGNALS, SignalRequests
from auditd.logging import configure_logging, get_logger
from auditd.timestamps import utcnow

if TYPE_CHECKING:
    from auditd.daemon.metrics import DaemonMetrics, MetricsServer

__all__ = ["Service", "serve", "stall_limits"]

log = get_logger(__name__)


def serve(
    settings: Settings,
    load_settings: Callable[[], Settings],
    signals: SignalRequests = SIGNALS,
) -> int:
    """Run the daemon in the foreground until stopped; returns the exit code.

    ``load_settings`` re-reads the configuration from the same sources on
    SIGHUP. Raises, before ``READY=1``: AlreadyRunningError (SQLite file in
    use), DatabaseAccessError (credentials, privileges or a read-only SQLite
    file), ConfigError (metrics address), SchemaMismatchError and
    DatabaseUnavailableError (gave up waiting).
    """
    signals.install()  # already done by the audittrail command; needed for API callers
    configure_logging(settings.logging.level, settings.logging.format, stream=sys.stdout)
    with SystemdNotifier() as notifier:
        return Service(settings, load_settings, notifier, signals).run()


def stall_limits(settings: Settings) -> dict[str, StallLimit]:
    """Each enabled job's stall limit.

    A run's every statement is bounded by the server's timeouts; a run
    quiet for longer than a few of them is stuck (e.g. a network partition
    that no timeout covers), not slow.
    """
    database = settings.database
    run_seconds = float(
        2 * database.statement_timeout_seconds
        + database.lock_timeout_seconds
        + database.connect_timeout_seconds
    )
    now = utcnow()
    return {
        name: StallLimit(run_seconds=run_seconds, period_seconds=period_seconds(job, now))
        for name, job in settings.jobs.items()
        if job.enabled
    }


class Service:
    """One ``serve`` process. Construct, then :meth:`run` in the main thread."""

    def __init__(
        self,
        settings: Settings,
        load_settings: Callable[[], Settings],
        notifier: SystemdNotifier,
        signals: SignalRequests,
    ) -> None:
        self.settings = settings
        self._load_settings = load_settings
        self._notifier = notifier
        self._signals = signals
        self._requested_stop = signals.stop  # set by SIGTERM/SIGINT, from the first moment
        # Set when the service stops for any reason; seen by every run before each
        # batch and by the change watcher. Kept apart from the signal's flag so
        # that a first SIGTERM during a stop for another reason is not taken
        # for a second one.
        self._stop = threading.Event()
        self._tracker = ProgressTracker(stall_limits(settings))
        self._metrics: DaemonMetrics | None = None
        self._metrics_server: MetricsServer | None = None
        self._engine: sa.Engine | None = None
        self._scheduler: JobScheduler | None = None
        self._database_lock: DatabaseFileLock | None = None
        self._change_sync: CoalescingSync | None = None
        self._watcher: ChangeWatcher | None = None
        self._ready = False
        self._last_run: RunRecord | None = None
        self._status = ""

    # --- lifecycle -------------------------------------------------------------------

    def run(self) -> int:
        """Start, serve until a stop signal, stop. Returns 0 after a requested
        stop (also one during start-up), 1 if the scheduler thread died."""
        try:
            if self.settings.database.backend == "sqlite" and not self._requested_stop.is_set():
                self._database_lock = startup.lock_sqlite_database(self.settings)
            if self.settings.metrics.enabled and not self._requested_stop.is_set():
                self._serve_metrics()
            if self._requested_stop.is_set():
                return 0
            engine = startup.wait_for_database(self.settings, self._notifier, self._requested_stop)
            if engine is None or self._requested_stop.is_set():
                return 0  # stopped while waiting
            self._engine = engine
            self._scheduler = JobScheduler(self.settings.jobs, self._run_tick)
            self._scheduler.start()
            self._watch_changes()
            self._ready = True
            self._status = self._status_line([])
            self._notifier.ready(self._status)
            log.info(
                "serve ready",
                database=self.settings.database.masked_url(),
                jobs=self._schedules(),
                sync_on_change=self._change_sync is not None,
                watchdog_seconds=self._notifier.watchdog_interval(),
            )
            return self._loop()
        finally:
            self._teardown()

    def _serve_metrics(self) -> None:
        # Imported here: prometheus-client costs a daemon without metrics 10 MB.
        from auditd.daemon.metrics import DaemonMetrics, MetricsServer

        self._metrics = DaemonMetrics(self.settings.jobs)
        self._metrics_server = MetricsServer(
            self.settings.metrics.listen_address, self._metrics, self.health
        )
        self._metrics_server.start()

    def _loop(self) -> int:
        interval = self._notifier.watchdog_interval()
        next_ping = 0.0
        reported: set[str] = set()
        while True:
            self._signals.wake.clear()
            if self._requested_stop.is_set():
                return 0
            if self._signals.reload_requested():
                self._reload()
            assert self._scheduler is not None
            if not self._scheduler.is_alive():
                log.error("the scheduler thread died; exiting so that systemd restarts the service")
                return 1
            stalls = self._tracker.stalls()
            if self._metrics is not None:
                self._metrics.observe_health(
                    not stalls, (stall.job for stall in stalls), self.settings.jobs
                )
            stalled = {stall.job for stall in stalls}
            if stalled - reported:
                log.error(
                    "job made no progress; withholding the watchdog",
                    stalls=[stall.describe() for stall in stalls],
                )
            if reported and not stalled:
                log.info("every job makes progress again; feeding the watchdog")
            reported = stalled
            if not stalls and interval is not None and time.monotonic() >= next_ping:
                self._notifier.watchdog()
                next_ping = time.monotonic() + interval
            self._publish_status(stalls)
            self._signals.wake.wait(min(interval, 1.0) if interval else 1.0)

    def health(self) -> tuple[bool, str]:
        """Whether the watchdog would be fed now, and why (for ``/healthz``)."""
        if self._stop.is_set() or self._requested_stop.is_set():
            return False, "stopping"
        if not self._ready or self._scheduler is None:
            return False, "starting"
        if not self._scheduler.is_alive():
            return False, "the scheduler thread died"
        stalls = self._tracker.stalls()
        if stalls:
            return False, "; ".join(stall.describe() for stall in stalls)
        return True, self._status_line([])

    def _teardown(self) -> None:
        self._ready = False
        self._stop.set()  # also ends the change watcher and the coalescing sync
        self._notifier.stopping()
        self._notifier.status("stopping")
        if self._scheduler is not None:
            self._scheduler.shutdown()
        timeout = self.settings.service.shutdown_timeout_seconds
        if self._engine is not None and not self._tracker.wait_idle(timeout):
            log.warning(
                "shutdown timeout: leaving the batch in progress, the database rolls it back",
                jobs=self._tracker.active(),
                timeout_seconds=timeout,
            )
            sys.stdout.flush()
            os._exit(0)
        for worker in (self._watcher, self._change_sync):
            if worker is not None:
                worker.join(timeout=5)
        if self._engine is not None:
            self._engine.dispose()
        # After the engine: closing our descriptor of the database file must
        # not come while SQLite still has connections to it in this process.
        if self._database_lock is not None:
            self._database_lock.release()
        if self._metrics_server is not None:
            self._metrics_server.close()
        log.info("serve stopped")

    # --- jobs --------------------------------------------------------------------------

    def _run_tick(self, job: str, scheduled_for: datetime) -> None:
        """One tick of one job, in a scheduler worker thread; never raises."""
        self._run(job, kind="schedule", scheduled_for=scheduled_for)

    def _run(self, job: str, *, kind: str, scheduled_for: datetime | None = None) -> bool:
        """Run ``job`` once; True if a run happened. Never raises."""
        if self._stop.is_set():
            return False
        assert self._engine is not None
        self._tracker.started(job)  # from here on, shutdown waits for this run
        record: RunRecord | None = None
        error: str | None = None
        try:
            record = run_job(
                self._engine,
                self.settings,
                job,
                kind=kind,
                scheduled_for=scheduled_for,
                stop=self._stop,
                tracker=self._tracker,
            )
        except Exception as exc:  # the run could not even be claimed or recorded
            error = describe_error(exc)
            log.error(
                "job run could not start",
                job=job,
                scheduled_for=scheduled_for.isoformat() if scheduled_for else None,
                error=error,
            )
        if record is not None:
            self._tracker.finished(job, record.status, record.error)
            self._last_run = record
        else:
            self._tracker.finished(job, "error" if error else "skipped", error)
        if self._metrics is not None:
            if record is not None:
                self._metrics.observe_run(record)
            else:
                self._metrics.observe_outcome(job, "error" if error else "skipped")
        self._signals.wake.set()
        return record is not None

    def _watch_changes(self) -> None:
        """Start syncing on commits if the configuration asks for it (once)."""
        settings = self.settings
        wanted = settings.service.sync_on_change and settings.jobs["sync"].enabled
        if not wanted or self._change_sync is not None or self._engine is None:
            return
        self._change_sync = CoalescingSync(self._sync_on_change, self._stop)
        self._watcher = ChangeWatcher(
            self._engine,
            self._change_sync.request,
            self._stop,
            poll_seconds=settings.service.change_poll_seconds,
        )
        self._change_sync.start()
        self._watcher.start()
        self._change_sync.request()  # catch up with commits made while the daemon was away

    def _sync_on_change(self) -> bool:
        settings = self.settings  # read once: a reload may replace it meanwhile
        if not (settings.service.sync_on_change and settings.jobs["sync"].enabled):
            return True  # switched off by a reload: nothing to retry
        return self._run("sync", kind="change")

    # --- status ------------------------------------------------------------------------

    def _schedules(self) -> dict[str, str]:
        return {name: job.describe() for name, job in self.settings.jobs.items() if job.enabled}

    def _status_line(self, stalls: list[Stall]) -> str:
        if stalls:
            return "; ".join(stall.describe() for stall in stalls)
        failing = [
            f"{job} failing since {state.failing_since.isoformat(timespec='seconds')}: "
            f"{state.last_error}"
            for job, state in sorted(self._tracker.snapshot().items())
            if state.failing_since is not None and job in self.settings.jobs
        ]
        if failing:
            return "; ".join(failing)
        run = self._last_run
        if run is None:
            return "ready, no run yet"
        finished = run.finished_at.isoformat(timespec="seconds") if run.finished_at else "?"
        return (
            f"ok; last run: {run.job} {run.status} at {finished}, {run.rows_repaired} "
            f"repaired of {run.rows_scanned} scanned"
        )

    def _publish_status(self, stalls: list[Stall]) -> None:
        status = self._status_line(stalls)
        if status != self._status:
            self._status = status
            self._notifier.status(status)

    # --- reload ------------------------------------------------------------------------

    def _reload(self) -> None:
        """Apply a new configuration atomically, or keep the old one entirely."""
        self._notifier.reloading()
        try:
            new = self._load_settings()
        except Exception as error:  # never let a bad file stop the daemon
            log.error("configuration reload failed; keeping the current one", error=str(error))
            self._notifier.ready(f"reload failed, previous configuration in force: {error}")
            return
        if new.database != self.settings.database:
            log.warning("database settings changed; they take effect after a restart")
            new = dataclasses.replace(new, database=self.settings.database)
        if new.metrics != self.settings.metrics:
            log.warning("metrics settings changed; they take effect after a restart")
            new = dataclasses.replace(new, metrics=self.settings.metrics)
        configure_logging(new.logging.level, new.logging.format, stream=sys.stdout)
        assert self._scheduler is not None
        changed = self._scheduler.apply(new.jobs)
        self._tracker.configure(stall_limits(new))
        self.settings = new
        self._watch_changes()
        log.info("configuration reloaded", changed_jobs=changed, jobs=self._schedules())
        self._status = self._status_line([])
        self._notifier.ready(self._status)
