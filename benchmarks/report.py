"""``docs/benchmarks.md``: the machine, the command, and one table per run.

Each run (a scale on a backend) owns one block of the file between
``<!-- bench:SCALE:BACKEND -->`` and ``<!-- /bench:SCALE:BACKEND -->``;
writing a run replaces its block and leaves the rest of the file (the
analysis written by hand, the other runs) as it is.
"""

from __future__ import annotations

import math
import os
import platform
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import Figure, Value


def machine(postgresql_version: str | None) -> str:
    """One line describing where the figures were measured."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    parts = [
        f"{os.cpu_count()} cores ({model})",
        f"{memory:.0f} GiB",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if postgresql_version:
        parts.append(f"PostgreSQL {postgresql_version}")
    return "; ".join(parts) + f"; load average at start {load}"


def _seconds(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    return f"{value:.2f} {unit}"


def _spread(samples: Sequence[float], unit: str) -> str:
    if len(samples) < 2:
        return ""
    return f" ({_seconds(min(samples), unit)} to {_seconds(max(samples), unit)})"


def block(
    scale: str,
    backend: str,
    command: str,
    description: str,
    host: str,
    figures: Sequence[Figure],
    values: Sequence[Value],
) -> str:
    """The Markdown of one run."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        f"### {scale} on {backend}",
        "",
        f"Measured {stamp} with `{command}` on {host}. Data: {description}.",
        "",
        "| group | measurement | median (min to max) | baseline | baseline median (min to max)"
        " | ratio | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for figure in figures:
        target = "" if figure.target is None else f"<= {figure.target:g}x {figure.verdict}"
        note = f" ({figure.note})" if figure.note else ""
        lines.append(
            f"| {figure.group} | {figure.subject}{note}"
            f" | {_seconds(figure.median, figure.unit)}{_spread(figure.samples, figure.unit)}"
            f" | {figure.baseline}"
            f" | {_seconds(figure.baseline_median, figure.unit)}"
            f"{_spread(figure.baseline_samples, figure.unit)}"
            f" | {figure.ratio:.2f}x | {target} |"
        )
    if values:
        lines += ["", "| group | measurement | value | note |", "|---|---|---|---|"]
        for value in values:
            lines.append(
                f"| {value.group} | {value.subject} | {_seconds(value.median, value.unit)}"
                f"{_spread(value.samples, value.unit)} | {value.note} |"
            )
    return "\n".join(lines) + "\n"


def write(path: Path, scale: str, backend: str, text: str) -> None:
    """Put ``text`` into the run's block of ``path`` (appended when new)."""
    start, end = f"<!-- bench:{scale}:{backend} -->", f"<!-- /bench:{scale}:{backend} -->"
    wrapped = f"{start}\n{text}{end}"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1]
        current = before + wrapped + after
    else:
        current = current.rstrip("\n") + "\n\n" + wrapped + "\n"
    path.write_text(current)
