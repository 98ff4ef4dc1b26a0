"""Locks that keep a job from running twice at once, and ``serve`` from
running twice on one SQLite file.

PostgreSQL: a transaction-level advisory lock (``pg_try_advisory_xact_lock``)
taken in a transaction that a dedicated connection keeps open for the whole
run. It ends with that transaction, so a lost connection can never leave a
stale lock behind; the run checks the connection before every batch and
stops if it is gone. (A session-level lock would be worse: a pool that
silently reconnects drops it while the run carries on, unprotected.)

SQLite: ``flock`` on a file next to the database for each job, and for
``serve`` on the database file itself, so that the lock belongs to the
file's identity (device and inode): a hard link, a symbolic link or another
path to the same file finds it taken. (SQLite locks with ``fcntl`` byte
ranges, which Linux keeps apart from ``flock``.) The kernel releases these
locks when the process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from auditd.errors import first_line
from auditd.logging import redact_secrets

__all__ = [
    "DatabaseFileLock",
    "FileLock",
    "JobLock",
    "LockLostError",
    "describe_error",
    "job_lock",
    "sqlite_database_path",
]

# First key of our two-key advisory locks ("audt"), so they cannot collide
# with another application's locks on the same database.
_ADVISORY_SPACE = 0x61756474


class LockLostError(Exception):
    """The connection holding the job's lock is gone; the run must stop."""


def describe_error(error: BaseException) -> str:
    """One line for run records and logs: the error type and its first line,
    secrets redacted."""
    original = getattr(error, "orig", None) or error
    return redact_secrets(f"{type(original).__name__}: {first_line(error)}")


class FileLock:
    """An exclusive ``flock`` on ``path``, released when closed or when the
    process dies (the kernel drops it, so a crash leaves no stale lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if free; returns False at once if another process holds it.

        Raises OSError if the file cannot be created.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid written by the current holder, or "unknown"."""
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class DatabaseFileLock:
    """An exclusive ``flock`` on a SQLite database file itself, for one ``serve``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if free; False at once if another process holds it.

        Raises OSError if the file cannot be opened (it is created empty if
        missing, as SQLite itself would).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid of the process holding the lock, from ``/proc/locks``, or "unknown"."""
        try:
            info = os.stat(self.path)
            with open("/proc/locks", encoding="ascii") as locks:
                lines = locks.read().splitlines()
        except OSError:
            return "unknown"
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2147016 0 EOF": major:minor in hex.
        identity = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
        for line in lines:
            fields = line.split()
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == identity:
                return fields[4]
        return "unknown"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class JobLock(Protocol):
    """Excludes other runs of one job, in every process, while held."""

    def acquire(self) -> bool: ...
    def check(self) -> None: ...
    def release(self) -> None: ...


class _AdvisoryJobLock:
    def __init__(self, engine: sa.Engine, job: str) -> None:
        self._engine = engine
        self._key = zlib.crc32(job.encode()) & 0x7FFFFFFF
        self._connection: sa.Connection | None = None

    def acquire(self) -> bool:
        connection = self._engine.connect()
        try:
            connection.begin()
            held = connection.scalar(
                sa.text("SELECT pg_try_advisory_xact_lock(:space, :key)"),
                {"space": _ADVISORY_SPACE, "key": self._key},
            )
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        if not held:
            self.release()
        return bool(held)

    def check(self) -> None:
        assert self._connection is not None
        try:
            self._connection.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as error:
            raise LockLostError(
                f"lost the job lock's connection: {describe_error(error)}"
            ) from None

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.rollback()  # ends the transaction, and with it the lock
        except sa.exc.DBAPIError:
            pass  # the connection is gone, and the server released the lock with it
        finally:
            connection.close()


class _FileJobLock:
    def __init__(self, path: Path) -> None:
        self._lock = FileLock(path)

    def acquire(self) -> bool:
        return self._lock.try_acquire()

    def check(self) -> None:
        pass  # a flock cannot be lost while the process lives

    def release(self) -> None:
        self._lock.release()


def sqlite_database_path(url: sa.URL) -> Path:
    """The database file of a SQLite URL."""
    return Path(url.database or "").resolve()


def job_lock(engine: sa.Engine, job: str) -> JobLock:
    """The lock that keeps runs of ``job`` from overlapping, for this engine's database."""
    if engine.dialect.name == "postgresql":
        return _AdvisoryJobLock(engine, job)
    database = sqlite_database_path(engine.url)
    return _FileJobLock(database.with_name(f"{database.name}.{job}.lock"))
