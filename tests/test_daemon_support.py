"""Shared helpers for the daemon tests (no tests here): data that drifts, and a
real ``serve`` process with a real notify socket.

Imported by the daemon test modules as ``test_daemon_support``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from audit_names import transactions, versions

from auditd import db
from auditd.logging import configure_logging
from auditd.models import JobRun, Session
from auditd.stamps.derive import derive_last_modified
from auditd.stamps.repair import without_jit

WRONG_STAMP = datetime(2001, 1, 1, tzinfo=UTC)


@pytest.fixture
def live_logging() -> Iterator[None]:
    """Logging into the current (live) stderr, before and after the test.

    ``audittrail`` commands run in process configure logging with the stream
    of that moment, which pytest closes after the test; anything logging
    later would fail on the closed stream.
    """
    configure_logging("info", "console", stream=sys.stderr)
    yield
    configure_logging("info", "console", stream=sys.stderr)


VERSIONED_TABLES = ("sessions", "speakers_sessions", "events", "tracks", "speaker")
PASSWORD = "s3cret-Pw-9f2"  # noqa: S105 (the test server trusts every login)


@contextmanager
def quick_write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction for test data, without PostgreSQL's JIT compiler.

    With the server's default settings the capture trigger's statement is
    JIT-compiled on every write, about a second each on a busy test machine;
    test data does not need to pay that.
    """
    with db.write_transaction(engine) as connection:
        without_jit(connection)
        yield connection


def add_sessions(engine: sa.Engine, count: int, title: str = "talk") -> list[int]:
    """Insert ``count`` sessions in one transaction (versioned by the triggers)."""
    table = Session.__table__
    with quick_write(engine) as connection:
        before = connection.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)))
        connection.execute(
            sa.insert(table), [{"title": f"{title} {number}"} for number in range(count)]
        )
        ids = connection.scalars(
            sa.select(table.c.id).where(table.c.id > before).order_by(table.c.id)
        ).all()
    return list(ids)


def set_stamp_only(engine: sa.Engine, ids: Iterable[int], value: datetime = WRONG_STAMP) -> None:
    """A raw edit of last_modified_at alone: no version, no transaction row."""
    table = Session.__table__
    with quick_write(engine) as connection:
        connection.execute(
            sa.update(table).where(table.c.id.in_(list(ids))).values(last_modified_at=value)
        )


def change_title_then_break_stamp(engine: sa.Engine, ids: Iterable[int], title: str) -> None:
    """A versioned change, then (same transaction) a wrong stamp that no trigger fixes."""
    table = Session.__table__
    keys = list(ids)
    with quick_write(engine) as connection:
        connection.execute(sa.update(table).where(table.c.id.in_(keys)).values(title=title))
        connection.execute(
            sa.update(table).where(table.c.id.in_(keys)).values(last_modified_at=WRONG_STAMP)
        )


def drifted_keys(engine: sa.Engine) -> list[int]:
    """Sessions whose stored stamp differs from the one derived from history."""
    table = Session.__table__
    with engine.connect() as connection:
        derived = derive_last_modified(connection)
        stored = dict(connection.execute(sa.select(table.c.id, table.c.last_modified_at)).all())
    return sorted(
        key for key, value in derived.items() if value is not None and value != stored[key]
    )


def history_size(engine: sa.Engine) -> int:
    """Rows in every version table and the transaction table together."""
    with engine.connect() as connection:
        names = [transactions(connection), *(versions(connection, t) for t in VERSIONED_TABLES)]
        return sum(
            int(connection.scalar(sa.text(f"SELECT count(*) FROM {name}")) or 0) for name in names
        )


def job_runs(engine: sa.Engine, job: str | None = None) -> list[dict[str, Any]]:
    """Every recorded run (optionally of one job), oldest first, as dicts."""
    query = sa.select(JobRun.__table__).order_by(JobRun.id)
    if job is not None:
        query = query.where(JobRun.job == job)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def with_password(url: str) -> str:
    """The PostgreSQL URL with a password (the test server trusts every login)."""
    return sa.make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


class NotifySocket:
    """A real ``AF_UNIX`` datagram socket standing in for systemd's notify socket.

    A thread drains it continuously, like systemd does: a full socket queue
    would block the sender.
    """

    def __init__(self, directory: Path) -> None:
        if len(str(directory / "notify.sock")) > 100:  # sun_path holds 108 bytes
            directory = Path(tempfile.mkdtemp(prefix="audittrail-"))
        self.path = directory / "notify.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.path))
        self._socket.settimeout(0.1)
        self._messages: list[str] = []
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._socket.recv(4096)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            self._messages.append(data.decode())

    def assignments(self) -> list[str]:
        """Every ``KEY=value`` received so far, in order."""
        return [line for message in list(self._messages) for line in message.split("\n")]

    def wait_for(self, assignment: str, timeout: float, after: int = 0) -> int:
        """Wait for ``assignment`` (e.g. ``READY=1``) at or after index ``after``;
        returns its index in :meth:`assignments`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.assignments()
            for index in range(after, len(received)):
                if received[index] == assignment:
                    return index
            time.sleep(0.02)
        raise AssertionError(f"{assignment} not received within {timeout}s: {self.assignments()}")

    def close(self) -> None:
        self._closed.set()
        self._reader.join(timeout=5)
        self._socket.close()
        self.path.unlink(missing_ok=True)


class ServeProcess:
    """``python -m auditd serve`` as a child process, its output collected."""

    def __init__(
        self,
        database_url: str | None,
        state_dir: Path,
        *,
        notify: NotifySocket | None = None,
        watchdog_usec: int | None = None,
        settings: dict[str, str] | None = None,
        args: Sequence[str] = (),
        args_after: Sequence[str] = (),
    ) -> None:
        """``database_url`` None: the URL comes from the configuration given in
        ``args``; ``args`` go before the command, ``args_after`` after it."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AUDITD_")}
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        env.update(
            {
                "PYTHONFAULTHANDLER": "1",
                "AUDITD_SERVICE_STATE_DIR": str(state_dir),
                "AUDITD_LOGGING_FORMAT": "json",
                "AUDITD_SERVICE_STARTUP_RETRY_INITIAL_SECONDS": "0.2",
                "AUDITD_SERVICE_STARTUP_RETRY_MAX_SECONDS": "1",
                **(settings or {}),
            }
        )
        if database_url is not None:
            env["AUDITD_DATABASE_URL"] = database_url
        if notify is not None:
            env["NOTIFY_SOCKET"] = str(notify.path)
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "auditd", *args, "serve", *args_after],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self) -> list[dict[str, Any]]:
        """The JSON log events written to stdout so far."""
        found = []
        for line in list(self.stdout):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return found

    def wait_for_event(self, name: str, timeout: float, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
                    return event
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {name!r} {match} within {timeout}s:\n{self.output()}")

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the exit and the end of its output; returns the exit code."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: dump the stacks
            time.sleep(1)
            raise AssertionError(
                f"serve did not exit in {timeout}s:\n{self.output()[-6000:]}"
            ) from None
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def stop(self) -> None:
        """Make sure the process is gone (test clean-up)."""
        if self.process.poll() is None:
            self.process.kill()
        self.wait(timeout=10)
        assert PASSWORD not in self.output(), "a password reached the log output"


class TcpProxy:
    """A TCP port in front of PostgreSQL: refuses connections until :meth:`open`,
    then forwards. One forwarded connection can be frozen: no byte passes
    either way until it is thawed, as in a network partition that no timeout
    of the server covers (the server never sees the query)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: socket.socket | None = None
        self._flowing: dict[int, threading.Event] = {}  # upstream local port -> gate

    def open(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _address = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            gate = threading.Event()
            gate.set()
            self._flowing[upstream.getsockname()[1]] = gate
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, target, gate), daemon=True
                ).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, gate: threading.Event) -> None:
        try:
            while data := source.recv(65536):
                gate.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def freeze(self, server_side_port: int) -> None:
        """Hold every byte of the connection the server sees coming from this
        port (``pg_stat_activity.client_port``)."""
        self._flowing[server_side_port].clear()

    def thaw_all(self) -> None:
        for gate in self._flowing.values():
            gate.set()

    def close(self) -> None:
        self.thaw_all()
        if self._server is not None:
            self._server.close()
