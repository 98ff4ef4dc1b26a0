"""One updating progress line for long work, on a terminal only.

A long command (reconcile, verify, adopt) opens :func:`progress_line` and
hands its callback, ``update(done, total)``, to the work below; the line
shows what is being done, done/total, the rate and the time left, redrawn
in place on stderr. When stderr is not a terminal nothing is drawn at all.
The line is removed when the work ends, and log lines written meanwhile
appear above it (the logging stream is :data:`CURRENT_STDERR`, which the
live display redirects), so it never mixes with log or result lines.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stderr, name)


CURRENT_STDERR: TextIO = _CurrentStderr()  # type: ignore[assignment]


class _RateColumn(ProgressColumn):
    """``1,234 rows/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_line(
    label: str, *, unit: str = "rows", stream: TextIO | None = None
) -> Iterator[Callable[..., None]]:
    """A callback ``update(done, total, label=None)`` drawing one progress
    line on ``stream`` (default: stderr) while the block runs; a callback
    that does nothing when ``stream`` is not a terminal. ``label`` replaces
    the text in front (adopt names the table at hand)."""
    stream = stream if stream is not None else sys.stderr
    if not _is_terminal(stream):
        yield lambda done, total, label=None: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        _RateColumn(unit),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=True,
    )
    with progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int | None, label: str | None = None) -> None:
            progress.update(task, completed=done, total=total, description=label)

        yield update
