"""auditd.daemon.notify: sd_notify datagrams over a real AF_UNIX socket, best effort."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditd.daemon.notify import SystemdNotifier


class NotifySocket:
    """The receiving end systemd would hold: a bound AF_UNIX datagram socket."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(2)

    def receive(self) -> str:
        return self.sock.recv(4096).decode("utf-8")

    def nothing_pending(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(2)
        return False


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[NotifySocket, str]]:
    path = str(tmp_path / "notify")
    server = NotifySocket(path)
    yield server, path
    server.sock.close()


@pytest.fixture
def notifier(receiver: tuple[NotifySocket, str]) -> Iterator[SystemdNotifier]:
    with SystemdNotifier({"NOTIFY_SOCKET": receiver[1]}) as n:
        yield n


def test_ready_status_watchdog_stopping_arrive_as_exact_datagrams(
    notifier: SystemdNotifier, receiver: tuple[NotifySocket, str]
) -> None:
    server, _ = receiver
    assert notifier.enabled
    assert notifier.ready()
    assert server.receive() == "READY=1"
    assert notifier.ready(status="watching 3 tables")
    assert server.receive() == "READY=1\nSTATUS=watching 3 tables"
    assert notifier.status("synced\n12 sessions")
    assert server.receive() == "STATUS=synced 12 sessions"
    assert notifier.watchdog()
    assert server.receive() == "WATCHDOG=1"
    assert notifier.stopping()
    assert server.receive() == "STOPPING=1"
    assert notifier.extend_timeout(90.5)
    assert server.receive() == "EXTEND_TIMEOUT_USEC=90500000"
    assert notifier.notify("A=1", "B=2")
    assert server.receive() == "A=1\nB=2"


def test_reloading_carries_the_current_monotonic_time_in_microseconds(
    notifier: SystemdNotifier, receiver: tuple[NotifySocket, str]
) -> None:
    server, _ = receiver
    before = time.monotonic_ns() // 1000
    assert notifier.reloading()
    after = time.monotonic_ns() // 1000

    first, second = server.receive().split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_abstract_socket_address_starting_with_at_sign_is_supported() -> None:
    name = f"audittrail-test-{uuid.uuid4().hex}"
    server = NotifySocket("\0" + name)
    try:
        with SystemdNotifier({"NOTIFY_SOCKET": "@" + name}) as notifier:
            assert notifier.ready()
            assert server.receive() == "READY=1"
    finally:
        server.sock.close()


def test_without_notify_socket_every_method_is_a_no_op_returning_false() -> None:
    notifier = SystemdNotifier({})

    assert not notifier.enabled
    assert not notifier.ready("x")
    assert not notifier.status("x")
    assert not notifier.watchdog()
    assert not notifier.reloading()
    assert not notifier.stopping()
    assert not notifier.extend_timeout(1)
    assert not notifier.notify("A=1")
    assert notifier._sock is None  # no socket was even created
    notifier.close()


def test_vanished_socket_returns_false_and_later_sends_still_work(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "notify")
    with SystemdNotifier({"NOTIFY_SOCKET": path}) as notifier:
        assert not notifier.ready()  # nobody bound yet: ENOENT, no exception
        server = NotifySocket(path)
        try:
            assert notifier.status("back")
            assert server.receive() == "STATUS=back"
        finally:
            server.sock.close()
        os.unlink(path)
        assert not notifier.watchdog()  # socket file gone again


def test_unsupported_address_form_is_enabled_but_sends_nothing() -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": "vsock:2:1234"})

    assert notifier.enabled
    assert not notifier.ready()


def test_default_environment_is_read_from_os_environ(
    monkeypatch: pytest.MonkeyPatch, receiver: tuple[NotifySocket, str]
) -> None:
    server, path = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    with SystemdNotifier() as notifier:
        assert notifier.watchdog()
    assert server.receive() == "WATCHDOG=1"
    assert server.nothing_pending()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "sixty"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process(
    environ: dict[str, str], expected: float | None
) -> None:
    assert SystemdNotifier(environ).watchdog_interval() == expected
