"""Stop and reload requests, recorded from the first moment of the process.

``audittrail`` installs these handlers before it imports anything heavy
(:mod:`auditd.cli.entry`), so a SIGTERM that systemd sends while the program
is still importing, reading its configuration or waiting for the database
is a stop request like any other: ``serve`` exits 0 without ever sending
``READY=1``. Without them, the default action would kill the process with
exit status 143.

The handlers only set flags: logging from a signal handler could re-enter a
write that the interrupted main thread is in the middle of. A second stop
signal exits at once with 128 + the signal number.

Standard library only: this module is imported before anything else.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["SIGNALS", "SignalRequests"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalRequests:
    """What the signals asked for so far; one per process (:data:`SIGNALS`)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.wake = threading.Event()  # any request: the main loop looks at once
        self._reload = threading.Event()
        self._first_stop: int | None = None
        self._installed: dict[int, Any] = {}

    def install(self) -> None:
        """Handle SIGTERM, SIGINT and SIGHUP from now on (main thread only)."""
        for signum in _STOP_SIGNALS:
            self._installed.setdefault(signum, signal.signal(signum, self._on_stop))
        self._installed.setdefault(signal.SIGHUP, signal.signal(signal.SIGHUP, self._on_hangup))

    def release(self) -> None:
        """For commands other than ``serve``: give the signals back their
        previous handling, and deliver again a stop that arrived meanwhile, so
        the command ends as if these handlers had never been installed."""
        for signum, handler in self._installed.items():
            signal.signal(signum, handler)
        self._installed.clear()
        if self._first_stop is not None:
            signal.raise_signal(self._first_stop)

    def reload_requested(self) -> bool:
        """True once per SIGHUP (the request is consumed)."""
        requested = self._reload.is_set()
        self._reload.clear()
        return requested

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop.is_set():
            os.write(2, b"audittrail: second stop signal, exiting now\n")
            os._exit(128 + signum)
        self._first_stop = signum
        self.stop.set()
        self.wake.set()

    def _on_hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload.set()
        self.wake.set()


SIGNALS = SignalRequests()
"""The process's requests, shared by the entry point and ``serve``."""
