"""``changes --follow``: print new changes as they commit, until stopped.

It polls the feed (one horizon read and one indexed query when nothing is
new) every ``interval`` seconds and prints each new page at once, resuming
from the page's cursor, so every change is printed exactly once in commit
order of the horizon (see :mod:`auditd.history.feed`). SIGINT and SIGTERM
end it after the page being printed, with exit 0; so does the reader of a
pipe going away (``… --follow | head``), also while nothing is printed.
"""

from __future__ import annotations

import contextlib
import io
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from auditd.history.records import ChangePage

MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` inside the block instead of ending the process."""

    def handle(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def reader_gone(out: TextIO) -> bool:
    """Whether ``out`` is a pipe (or terminal) whose other end has closed."""
    try:
        descriptor = out.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    poller = select.poll()
    poller.register(descriptor, 0)  # report only errors and hang-ups
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


def follow(
    fetch: Callable[[int | None], ChangePage],
    write: Callable[[ChangePage, bool], None],
    *,
    after: int | None,
    interval: float,
    out: TextIO,
) -> None:
    """Fetch pages after ``after`` and ``write(page, first)`` each one with
    changes (the first page always, so a CSV header and a starting cursor
    appear at once) until a signal or the reader ends it."""
    stop = threading.Event()
    first = True
    with _stop_on_signals(stop):
        while not stop.is_set():
            page = fetch(after)
            if first or page.changes:
                write(page, first)
                first = False
            after = page.next_after_transaction
            if page.has_more:
                continue
            if _wait(stop, interval, out):
                return


def _wait(stop: threading.Event, seconds: float, out: TextIO) -> bool:
    """Sleep ``seconds`` or until ``stop``; True when the reader went away."""
    deadline = time.monotonic() + seconds
    remaining = seconds
    while remaining > 0 and not stop.wait(min(remaining, 0.5)):
        if reader_gone(out):
            return True
        remaining = deadline - time.monotonic()
    return False
