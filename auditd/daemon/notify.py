"""The systemd notify protocol (``sd_notify(3)``) without libsystemd.

systemd passes the address of a datagram socket in ``NOTIFY_SOCKET``; the
service sends newline-separated ``KEY=value`` assignments to it: ``READY=1``
when started, ``STATUS=`` for ``systemctl status``, ``WATCHDOG=1`` as a
heartbeat, ``RELOADING=1`` and ``STOPPING=1`` around reloads and shutdown.

Outside systemd (no ``NOTIFY_SOCKET``) every method is a no-op returning
``False``. Notification is best effort: a failed send never raises, because a
daemon must not die for lack of a supervisor to talk to.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType

__all__ = ["SystemdNotifier"]


def _socket_address(value: str) -> str | None:
    """Translate ``NOTIFY_SOCKET`` into an ``AF_UNIX`` address, or None if unsupported.

    ``/path`` is a filesystem socket; ``@name`` is a Linux abstract socket,
    whose address starts with a NUL byte. Other forms (``vsock:`` in newer
    systemd versions) are not supported.
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None


class SystemdNotifier:
    """Sends state notifications to systemd, if the process runs under it.

    The socket is opened on first use and kept until :meth:`close`. Instances
    are safe to share between threads, although ``serve`` sends everything,
    the watchdog included, from its main loop. Usable as a context manager.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``.

        *environ* defaults to ``os.environ`` as it is now; later changes to
        the environment are not seen.
        """
        env = os.environ if environ is None else environ
        self._socket_path = env.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(self._socket_path)
        self._watchdog_usec = env.get("WATCHDOG_USEC")
        self._watchdog_pid = env.get("WATCHDOG_PID")
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.enabled: bool = bool(self._socket_path)

    def __repr__(self) -> str:
        return f"SystemdNotifier(NOTIFY_SOCKET={self._socket_path!r})"

    def notify(self, *lines: str) -> bool:
        """Send *lines* (``KEY=value`` each) as one datagram.

        Returns True if the datagram was handed to the socket, False if
        notification is disabled, the address is unsupported or the send
        failed (socket gone, permission denied, ...). Never raises for those.
        """
        if not self.enabled or self._address is None or not lines:
            return False
        payload = "\n".join(lines).encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    )
                # Never block the main loop: a receiver that stops reading must
                # cost us a lost status message, not a hung service.
                self._sock.sendto(payload, socket.MSG_DONTWAIT, self._address)
            except OSError:
                # The socket stays open: systemd may come back (daemon-reexec)
                # and the next message may go through.
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (``READY=1``), optionally with a status line."""
        if status is None:
            return self.notify("READY=1")
        return self.notify("READY=1", _status_line(status))

    def status(self, text: str) -> bool:
        """Set the one-line status shown by ``systemctl status`` (newlines become spaces)."""
        return self.notify(_status_line(text))

    def watchdog(self) -> bool:
        """Send a watchdog keep-alive ping (``WATCHDOG=1``)."""
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        """Announce a configuration reload (``RELOADING=1`` with ``MONOTONIC_USEC``).

        Send :meth:`ready` when the reload is done. The timestamp (from
        ``CLOCK_MONOTONIC``) is what ``Type=notify-reload`` requires; older
        systemd versions ignore it.
        """
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> bool:
        """Announce that the service is shutting down (``STOPPING=1``)."""
        return self.notify("STOPPING=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for *seconds* more to finish starting, reloading or stopping.

        Sends ``EXTEND_TIMEOUT_USEC=``; useful while waiting for the database
        at start-up, which can outlast ``TimeoutStartSec=``. Repeat before the
        extension runs out.
        """
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def watchdog_interval(self) -> float | None:
        """Return the seconds between watchdog pings: half of ``WATCHDOG_USEC``.

        None when the watchdog is off: ``WATCHDOG_USEC`` unset, not a positive
        integer, or ``WATCHDOG_PID`` names another process (the variables were
        inherited from a parent that systemd watches).
        """
        if self._watchdog_pid is not None:
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        if self._watchdog_usec is None:
            return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        if usec <= 0:
            return None
        return usec / 2 / 1_000_000

    def close(self) -> None:
        """Close the socket; a later notification opens a new one."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> SystemdNotifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _status_line(text: str) -> str:
    # A newline would end the STATUS= assignment and start a bogus one.
    return "STATUS=" + " ".join(text.splitlines())
