"""``audittrail serve``: the daemon's lifecycle around the scheduler.

The shape is a plain worker loop: bootstrap, install signal handlers, loop
(check for a stop or reload request, feed the watchdog if healthy, sleep),
tear down in ``finally``.

* **Start.** SQLite: take the database's lock file, or exit 6 at once.
  Then wait for the database with capped, jittered exponential backoff
  (``service.startup_retry_*``), telling systemd why (``STATUS=``), keeping
  its start timeout and watchdog at bay meanwhile. A schema that is not at
  the migration head exits 5: waiting cannot fix it. ``READY=1`` is sent
  only once the database answered and the schema matched.
* **Watchdog.** ``WATCHDOG=1`` every half ``WATCHDOG_USEC``, from the main
  loop, and only while the scheduler thread is alive and no job run has
  gone without progress longer than the database's own timeouts allow. A
  hung run thus ends in systemd's watchdog restart instead of a silent stall.
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
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any

import sqlalchemy as sa

from auditd import db, migrate
from auditd.config import Settings
from auditd.daemon.jobs import run_job
from auditd.daemon.locks import FileLock, describe_error, sqlite_database_path
from auditd.daemon.notify import SystemdNotifier
from auditd.daemon.runner import Heartbeat
from auditd.daemon.runs import RunRecord
from auditd.daemon.scheduler import JobScheduler
from auditd.errors import AlreadyRunningError, DatabaseUnavailableError
from auditd.logging import configure_logging, get_logger

__all__ = ["Service", "serve"]

log = get_logger(__name__)


def serve(settings: Settings, load_settings: Callable[[], Settings]) -> int:
    """Run the daemon in the foreground until stopped; returns the exit code.

    ``load_settings`` re-reads the configuration from the same sources on
    SIGHUP. Raises AlreadyRunningError (SQLite file in use), SchemaMismatchError
    and DatabaseUnavailableError (gave up waiting) before ``READY=1``.
    """
    configure_logging(settings.logging.level, settings.logging.format, stream=sys.stdout)
    with SystemdNotifier() as notifier:
        return Service(settings, load_settings, notifier).run()


class Service:
    """One ``serve`` process. Construct, then :meth:`run` in the main thread."""

    def __init__(
        self, settings: Settings, load_settings: Callable[[], Settings], notifier: SystemdNotifier
    ) -> None:
        self.settings = settings
        self._load_settings = load_settings
        self._notifier = notifier
        self._stop = threading.Event()  # seen by every run before each batch
        self._wake = threading.Event()
        self._reload_requested = False
        self._heartbeat = Heartbeat()
        self._engine: sa.Engine | None = None
        self._scheduler: JobScheduler | None = None
        self._file_lock: FileLock | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._last_run: RunRecord | None = None
        self._status = ""

    # --- lifecycle -------------------------------------------------------------------

    def run(self) -> int:
        """Start, serve until a stop signal, stop. Returns 0 after a requested
        stop, 1 if the scheduler thread died."""
        self._install_signal_handlers()
        try:
            if self.settings.database.backend == "sqlite":
                self._lock_database_file()
            engine = self._wait_for_database()
            if engine is None:
                return 0  # stopped while waiting
            self._engine = engine
            self._scheduler = JobScheduler(self.settings.jobs, self._run_tick)
            self._scheduler.start()
            self._status = self._status_line()
            self._notifier.ready(self._status)
            log.info(
                "serve ready",
                database=self.settings.database.masked_url(),
                jobs={
                    name: job.describe() for name, job in self.settings.jobs.items() if job.enabled
                },
                watchdog_seconds=self._notifier.watchdog_interval(),
            )
            return self._loop()
        finally:
            self._teardown()

    def _loop(self) -> int:
        interval = self._notifier.watchdog_interval()
        next_ping = 0.0
        stall_reported = False
        while True:
            self._wake.clear()
            if self._stop.is_set():
                return 0
            if self._reload_requested:
                self._reload()
            assert self._scheduler is not None
            if not self._scheduler.is_alive():
                log.error("the scheduler thread died; exiting so that systemd restarts the service")
                return 1
            stalled = self._heartbeat.stalled_for()
            if stalled > self._stall_limit():
                if not stall_reported:
                    log.error(
                        "job run made no progress; withholding the watchdog",
                        jobs=self._heartbeat.active(),
                        stalled_seconds=round(stalled),
                    )
                    stall_reported = True
            elif interval is not None and time.monotonic() >= next_ping:
                self._notifier.watchdog()
                next_ping = time.monotonic() + interval
                stall_reported = False
            self._publish_status()
            self._wake.wait(min(interval, 1.0) if interval else 1.0)

    def _stall_limit(self) -> float:
        # Every statement of a batch is bounded by the server's timeouts; a
        # run quiet for longer than a few of them is stuck (e.g. a network
        # partition that no timeout covers), not slow.
        database = self.settings.database
        return float(
            2 * database.statement_timeout_seconds
            + database.lock_timeout_seconds
            + database.connect_timeout_seconds
        )

    def _teardown(self) -> None:
        self._notifier.stopping()
        self._notifier.status("stopping")
        if self._scheduler is not None:
            self._scheduler.shutdown()
        timeout = self.settings.service.shutdown_timeout_seconds
        if self._engine is not None and not self._heartbeat.wait_idle(timeout):
            log.warning(
                "shutdown timeout: leaving the batch in progress, the database rolls it back",
                jobs=self._heartbeat.active(),
                timeout_seconds=timeout,
            )
            sys.stdout.flush()
            os._exit(0)
        if self._engine is not None:
            self._engine.dispose()
        if self._file_lock is not None:
            self._file_lock.release()
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        log.info("serve stopped")

    # --- start-up --------------------------------------------------------------------

    def _lock_database_file(self) -> None:
        db.ensure_sqlite_folder(self.settings.database)
        database = sqlite_database_path(self.settings.database.connect_url())
        lock = FileLock(database.with_name(database.name + ".lock"))
        if not lock.try_acquire():
            raise AlreadyRunningError(
                f"another audittrail serve (pid {lock.holder()}) is using {database}",
                f"only one serve may run per SQLite database; its lock file is {lock.path}",
            )
        self._file_lock = lock

    def _wait_for_database(self) -> sa.Engine | None:
        """A connected engine whose schema is at head; None if stopped while waiting."""
        settings = self.settings
        engine = db.create_engine(settings.database)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                db.check_connection(engine, settings.database)
                migrate.require_head(engine)  # SchemaMismatchError: waiting cannot fix it
                return engine
            except DatabaseUnavailableError as error:
                reason = error.message
            except sa.exc.DBAPIError as error:  # the database went away during the check
                reason = db.describe_connection_error(error, settings.database)
            elapsed = time.monotonic() - started
            give_up = settings.service.startup_retry_give_up_seconds
            if give_up and elapsed >= give_up:
                engine.dispose()
                raise DatabaseUnavailableError(
                    reason, f"gave up after {elapsed:.0f}s (service.startup_retry_give_up_seconds)"
                )
            ceiling = min(
                settings.service.startup_retry_max_seconds,
                settings.service.startup_retry_initial_seconds * 2 ** (attempt - 1),
            )
            # Equal jitter: replicas restarted together do not retry in lockstep.
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not crypto)
            if give_up:
                delay = min(delay, max(give_up - elapsed, 0.0))
            log.warning(
                "database unavailable, retrying",
                attempt=attempt,
                retry_in_seconds=round(delay, 2),
                error=reason,
            )
            self._notifier.status(f"waiting for the database (attempt {attempt}): {reason}")
            self._notifier.extend_timeout(delay + settings.database.connect_timeout_seconds + 5)
            if self._sleep(delay):
                engine.dispose()
                return None

    def _sleep(self, seconds: float) -> bool:
        """Sleep, feeding the watchdog; True if a stop was requested meanwhile."""
        deadline = time.monotonic() + seconds
        interval = self._notifier.watchdog_interval() or 1.0
        while not self._stop.is_set():
            self._notifier.watchdog()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._stop.wait(min(interval, remaining))
        return True

    # --- jobs --------------------------------------------------------------------------

    def _run_tick(self, job: str, scheduled_for: datetime) -> None:
        """One tick of one job, in a scheduler worker thread; never raises."""
        if self._stop.is_set():
            return
        assert self._engine is not None
        self._heartbeat.started(job)  # from here on, shutdown waits for this tick
        try:
            record = run_job(
                self._engine,
                self.settings,
                job,
                kind="schedule",
                scheduled_for=scheduled_for,
                stop=self._stop,
                heartbeat=self._heartbeat,
            )
        except Exception as error:  # the run could not even be claimed or recorded
            log.error(
                "job run could not start",
                job=job,
                scheduled_for=scheduled_for.isoformat(),
                error=describe_error(error),
            )
            return
        finally:
            self._heartbeat.finished(job)
        if record is not None:
            self._last_run = record
            self._wake.set()

    def _status_line(self) -> str:
        run = self._last_run
        if run is None:
            return "ready, no run yet"
        return (
            f"last run: {run.job} {run.status}, {run.rows_repaired} repaired of "
            f"{run.rows_scanned} scanned"
        )

    def _publish_status(self) -> None:
        status = self._status_line()
        if status != self._status:
            self._status = status
            self._notifier.status(status)

    # --- signals and reload ------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous_handlers[signum] = signal.signal(signum, self._on_stop_signal)
        self._previous_handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only flags here: logging from a signal handler could re-enter a
        # write that the interrupted main thread is in the middle of.
        if self._stop.is_set():
            os.write(2, b"audittrail: second stop signal, exiting now\n")
            os._exit(128 + signum)
        self._stop.set()
        self._wake.set()

    def _on_hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload_requested = True
        self._wake.set()

    def _reload(self) -> None:
        """Apply a new configuration atomically, or keep the old one entirely."""
        self._reload_requested = False
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
        configure_logging(new.logging.level, new.logging.format, stream=sys.stdout)
        assert self._scheduler is not None
        changed = self._scheduler.apply(new.jobs)
        self.settings = new
        log.info(
            "configuration reloaded",
            changed_jobs=changed,
            jobs={name: job.describe() for name, job in new.jobs.items() if job.enabled},
        )
        self._status = self._status_line()
        self._notifier.ready(self._status)
