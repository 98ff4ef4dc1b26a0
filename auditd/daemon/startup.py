"""Everything ``serve`` checks before ``READY=1``, each failure one line.

1. SQLite: the database's folder and file are writable, and no other
   ``serve`` holds the database file (:class:`~auditd.daemon.locks.DatabaseFileLock`,
   keyed on the file's identity). Exit 3 and 6.
2. The database answers; while it does not, retry with capped, jittered
   exponential backoff (``service.startup_retry_*``), telling systemd why and
   keeping its start timeout and watchdog at bay. Credentials or options the
   server refuses are not retried (exit 3).
3. The schema is at the migration head (exit 5: waiting cannot fix it).
4. PostgreSQL: the role may do what the jobs do: read the history, update
   the stamps, record runs. Exit 3, naming what is missing.
"""

from __future__ import annotations

import random
import threading
import time

import sqlalchemy as sa

from auditd import db, migrate, registry
from auditd.capture import append_only
from auditd.config import Settings
from auditd.daemon.locks import DatabaseFileLock, sqlite_database_path
from auditd.daemon.notify import SystemdNotifier
from auditd.daemon.runs import RUNS
from auditd.errors import AlreadyRunningError, DatabaseAccessError, DatabaseUnavailableError
from auditd.logging import get_logger
from auditd.models.audit import TRANSACTION
from auditd.models.ledger import LEDGER_BLOCK
from auditd.models.namespace import audit_schema
from auditd.registry import qualify
from auditd.stamps.watermark import STATE

__all__ = ["check_privileges", "lock_sqlite_database", "wait_for_database"]

log = get_logger(__name__)


def lock_sqlite_database(settings: Settings) -> DatabaseFileLock:
    """Check that the SQLite database can be written and lock it for this process.

    Raises DatabaseAccessError (read-only folder or file) or AlreadyRunningError.
    """
    db.ensure_sqlite_folder(settings.database)
    db.check_sqlite_writable(settings.database)
    lock = DatabaseFileLock(sqlite_database_path(settings.database.connect_url()))
    if not lock.try_acquire():
        raise AlreadyRunningError(
            f"another audittrail serve (pid {lock.holder()}) is using {lock.path}",
            "only one serve may run per SQLite database file, whatever path leads to it",
        )
    return lock


def wait_for_database(
    settings: Settings, notifier: SystemdNotifier, stop: threading.Event
) -> sa.Engine | None:
    """A connected engine whose schema is at head and whose role has the
    privileges the jobs need; None if a stop was requested while waiting.

    Raises DatabaseAccessError (refused credentials, missing privileges),
    SchemaMismatchError, or DatabaseUnavailableError once
    ``service.startup_retry_give_up_seconds`` have passed.
    """
    engine = db.create_engine(settings.database)
    started = time.monotonic()
    attempt = 0
    try:
        while not stop.is_set():
            attempt += 1
            try:
                db.check_connection(engine, settings.database)
                migrate.require_head(engine)  # SchemaMismatchError: waiting cannot fix it
                check_privileges(
                    engine,
                    seal=settings.jobs["seal"].enabled,
                    prune=settings.jobs["prune"].enabled,
                )
                return engine
            except DatabaseUnavailableError as error:
                reason = error.message
            except sa.exc.DBAPIError as error:  # refused, or gone during the checks
                classified = db.classify_database_error(error, settings.database)
                if isinstance(classified, DatabaseAccessError):
                    raise classified from None
                reason = classified.message
            delay = _next_delay(settings, attempt, time.monotonic() - started, reason)
            notifier.status(f"waiting for the database (attempt {attempt}): {reason}")
            notifier.extend_timeout(delay + settings.database.connect_timeout_seconds + 5)
            if _sleep_feeding_watchdog(notifier, stop, delay):
                break
    except BaseException:
        engine.dispose()
        raise
    engine.dispose()
    return None


def _next_delay(settings: Settings, attempt: int, elapsed: float, reason: str) -> float:
    """Seconds until the next attempt; DatabaseUnavailableError once it is time to give up."""
    service = settings.service
    give_up = service.startup_retry_give_up_seconds
    if give_up and elapsed >= give_up:
        raise DatabaseUnavailableError(
            reason, f"gave up after {elapsed:.0f}s (service.startup_retry_give_up_seconds)"
        )
    ceiling = min(
        service.startup_retry_max_seconds,
        service.startup_retry_initial_seconds * 2 ** (attempt - 1),
    )
    # Equal jitter: replicas restarted together do not retry in lockstep.
    delay: float = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not crypto)
    if give_up:
        delay = min(delay, max(give_up - elapsed, 0.0))
    log.warning(
        "database unavailable, retrying",
        attempt=attempt,
        retry_in_seconds=round(delay, 2),
        error=reason,
    )
    return delay


def _sleep_feeding_watchdog(
    notifier: SystemdNotifier, stop: threading.Event, seconds: float
) -> bool:
    """Sleep, feeding the watchdog; True if a stop was requested meanwhile.

    Waiting for the database is progress the daemon is making as planned; a
    restart by the watchdog would only start the same wait again.
    """
    deadline = time.monotonic() + seconds
    interval = notifier.watchdog_interval() or 1.0
    while not stop.is_set():
        notifier.watchdog()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        stop.wait(min(interval, remaining))
    return True


def check_privileges(engine: sa.Engine, *, seal: bool = False, prune: bool = False) -> None:
    """Refuse to start with a role that would fail every job run.

    PostgreSQL: the role needs USAGE of the audit schema, SELECT on the
    registered tables, their version tables and the transaction table, UPDATE
    of each stamp column, and SELECT, INSERT and UPDATE on the daemon's
    bookkeeping tables (and USAGE of their id sequence); with the ``seal`` or
    ``prune`` job, SELECT and INSERT on the ledger, and with ``prune``,
    EXECUTE on the retention function. Raises DatabaseAccessError listing
    what is missing.
    """
    if engine.dialect.name != "postgresql":
        return  # a SQLite file has no privileges; lock_sqlite_database checked it is writable
    with engine.connect() as connection:
        # (what is needed, for people; the test, as SQL)
        checks: list[tuple[str, sa.ColumnElement[bool]]] = []

        def table(privilege: str, name: str, column: str | None = None) -> None:
            """``name``: quoted and schema-qualified."""
            if column is None:
                test = sa.func.has_table_privilege(name, privilege)
                checks.append((f"{privilege} on {name}", test))
            else:
                test = sa.func.has_column_privilege(name, column, privilege)
                checks.append((f"{privilege} ({column}) on {name}", test))

        schema = audit_schema(connection)
        checks.append((f"USAGE on schema {schema}", sa.func.has_schema_privilege(schema, "USAGE")))
        table("SELECT", qualify(schema, TRANSACTION.name))
        for entry in registry.load(connection):
            table("SELECT", entry.qualified_table)
            table("SELECT", entry.qualified_version_table)
            if entry.stamp_column is not None:
                table("UPDATE", entry.qualified_table, entry.stamp_column)
        for name in (RUNS.name, STATE.name):
            for privilege in ("SELECT", "INSERT", "UPDATE"):
                table(privilege, qualify(schema, name))
        sequence = connection.scalar(
            sa.select(sa.func.pg_get_serial_sequence(qualify(schema, RUNS.name), "id"))
        )
        if sequence is not None:
            test = sa.func.has_sequence_privilege(sequence, "USAGE")
            checks.append((f"USAGE on {sequence}", test))
        if seal or prune:
            for privilege in ("SELECT", "INSERT"):
                table(privilege, qualify(schema, LEDGER_BLOCK.name))
        if prune:
            function = append_only.retention_function_signature(schema)
            test = sa.func.has_function_privilege(function, "EXECUTE")
            checks.append((f"EXECUTE on {function}", test))
        granted = connection.execute(sa.select(*(test for _, test in checks))).one()
        role = connection.scalar(sa.select(sa.func.current_user()))
    missing = [needed for (needed, _), ok in zip(checks, granted, strict=True) if not ok]
    if missing:
        raise DatabaseAccessError(
            f"role {role} lacks privileges the daemon needs: {', '.join(missing)}",
            "grant them as docs/systemd.md shows under PostgreSQL privileges",
        )
