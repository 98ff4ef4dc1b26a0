"""Sync within seconds of a commit: watch for new history, run sync, coalesce bursts.

* **PostgreSQL.** Capture's shared transaction function sends
  ``pg_notify('audittrail_changes', '')`` in every transaction that writes
  history; PostgreSQL delivers it at commit (never for a rollback) and folds
  the repeats of one transaction into one. The watcher LISTENs on a
  connection of its own and waits on its socket. When that connection is
  lost (database restart, failover, a killed backend) it reconnects with
  backoff and then asks for one sync, since notifications sent meanwhile are
  gone.
* **SQLite.** The watcher reads the latest transaction id every
  ``service.change_poll_seconds`` (an index lookup) and asks for a sync when
  it grew. Sync's own repairs write no transaction, so they cannot wake it.

:class:`CoalescingSync` turns requests into runs: the first request of a
burst waits :data:`COALESCE_SECONDS` for the rest, then one sync runs; any
request that arrives while it runs leads to exactly one more run after it.
A burst of a thousand commits therefore costs a few runs, and every commit
is covered by a run that started after it. A run that could not happen
(sync was running elsewhere, whose snapshot may predate the commit) is
tried again shortly. The job's schedule stays as the fallback.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable

import sqlalchemy as sa

from auditd.capture.postgresql import CHANGES_CHANNEL
from auditd.daemon.locks import describe_error
from auditd.logging import get_logger
from auditd.models.audit import TRANSACTION

__all__ = ["COALESCE_SECONDS", "ChangeWatcher", "CoalescingSync"]

log = get_logger(__name__)

# How long the first request of a burst waits for the rest.
COALESCE_SECONDS = 0.2
# After a run that could not happen, wait this long before trying again.
RETRY_SECONDS = 0.5
_RECONNECT_MAX_SECONDS = 30.0


class CoalescingSync:
    """Runs sync on request, never more than one run plus one pending.

    ``run_sync`` returns True if a run happened (whatever its outcome),
    False if it could not (another runner had the job, or a stop).
    """

    def __init__(self, run_sync: Callable[[], bool], stop: threading.Event) -> None:
        self._run_sync = run_sync
        self._stop = stop
        self._requested = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sync-on-change", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        """Ask for a sync that starts after now (thread-safe, cheap)."""
        self._requested.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._requested.wait(timeout=1.0):
                continue
            if self._stop.wait(COALESCE_SECONDS):  # let the rest of the burst arrive
                return
            self._requested.clear()  # requests from now on need a run that starts later
            try:
                ran = self._run_sync()
            except Exception as error:  # the run records its own failures; this is a bug
                log.error("sync on change failed to run", error=describe_error(error))
                ran = True
            if not ran and not self._stop.wait(RETRY_SECONDS):
                self._requested.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)


class ChangeWatcher:
    """Calls ``on_change`` soon after a commit that wrote history."""

    def __init__(
        self,
        engine: sa.Engine,
        on_change: Callable[[], None],
        stop: threading.Event,
        poll_seconds: float,
    ) -> None:
        self._engine = engine
        self._on_change = on_change
        self._stop = stop
        self._poll_seconds = poll_seconds
        target = self._listen if engine.dialect.name == "postgresql" else self._poll
        self._thread = threading.Thread(target=target, name="change-watcher", daemon=True)
        self.connected = threading.Event()  # listening (PostgreSQL) or polling (SQLite)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- PostgreSQL: LISTEN -------------------------------------------------------------

    def _listen(self) -> None:
        delay = 1.0
        first = True
        while not self._stop.is_set():
            try:
                connection = self._engine.raw_connection()
            except sa.exc.DBAPIError as error:
                log.warning(
                    "change listener cannot connect, retrying",
                    error=describe_error(error),
                    retry_in_seconds=delay,
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, _RECONNECT_MAX_SECONDS)
                continue
            connection.detach()  # its own connection for good: never back into the pool
            try:
                self._listen_on(connection.dbapi_connection, announce=not first)
            except Exception as error:  # the connection is gone; reconnect
                log.warning("change listener lost its connection", error=describe_error(error))
            finally:
                self.connected.clear()
                connection.close()
            first = False
            delay = 1.0
            if self._stop.wait(delay):
                return

    def _listen_on(self, dbapi: object, *, announce: bool) -> None:
        dbapi.autocommit = True  # type: ignore[attr-defined]
        with dbapi.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"LISTEN {CHANGES_CHANNEL}")
        self.connected.set()
        log.info("listening for commits", channel=CHANGES_CHANNEL)
        if announce:
            self._on_change()  # commits made while the listener was away sent nothing to us
        fileno = dbapi.fileno()  # type: ignore[attr-defined]
        while not self._stop.is_set():
            readable, _, _ = select.select([fileno], [], [], 1.0)
            if not readable:
                continue
            dbapi.poll()  # type: ignore[attr-defined]
            notifies = dbapi.notifies  # type: ignore[attr-defined]
            if notifies:
                notifies.clear()
                self._on_change()

    # --- SQLite: poll the latest transaction id ---------------------------------------------

    def _poll(self) -> None:
        latest: int | None = None
        query = sa.select(sa.func.max(TRANSACTION.c.id))
        while not self._stop.is_set():
            try:
                with self._engine.connect() as connection:
                    current = connection.scalar(query)
                self.connected.set()
            except sa.exc.DBAPIError as error:
                log.warning("change poll failed", error=describe_error(error))
                current = latest
            if latest is not None and current is not None and current != latest:
                self._on_change()
            latest = current if current is not None else latest
            self._stop.wait(self._poll_seconds)
