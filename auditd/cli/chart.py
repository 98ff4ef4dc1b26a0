"""A bar chart of changes per day, written as SVG by hand.

SVG is text, opens in any browser and needs no plotting library. Every day
of the range gets a bar (zero days included, so gaps are visible), with a
tooltip giving the exact count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from auditd.errors import UsageError
from auditd.history.records import ReportRow

CHART_SUFFIXES = (".svg",)
PLOT_WIDTH = 900
PLOT_HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 48, 56
BAR_COLOUR = "#336699"
# Ten years of bars: beyond that a bar is narrower than a pixel.
MAX_CHART_DAYS = 3660


def check_chart_path(text: str) -> Path:
    """The chart file to write: must end in ``.svg`` and its folder must exist.

    Raises :class:`UsageError` otherwise (checked before any query runs).
    """
    path = Path(text)
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise UsageError(
            f"--chart {text!r}: unsupported chart format {path.suffix or '(none)'!r}",
            "charts are written as SVG; give a file name ending in .svg",
        )
    if not path.parent.is_dir():
        raise UsageError(f"--chart {text!r}: folder {str(path.parent)!r} does not exist")
    return path


def days_in_range(since: datetime, until: datetime, zone: ZoneInfo) -> list[date]:
    """Every local day in ``zone`` that overlaps [since, until)."""
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def check_chart_range(since: datetime, until: datetime, zone: ZoneInfo) -> None:
    """:class:`UsageError` for a range with more days than a chart can show."""
    days = len(days_in_range(since, until, zone))
    if days > MAX_CHART_DAYS:
        raise UsageError(
            f"--chart: the range has {days} days, a chart shows at most {MAX_CHART_DAYS}",
            "narrow --since/--until, or leave out --chart",
        )


def daily_counts(
    rows: Sequence[ReportRow], since: datetime, until: datetime, zone: ZoneInfo
) -> list[tuple[date, int]]:
    """Per-day counts from a ``by="day"`` report, with the missing days as 0."""
    counts = {row.key: row.changes for row in rows}
    return [(day, counts.get(day.isoformat(), 0)) for day in days_in_range(since, until, zone)]


def _tick_step(top: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving about five grid lines."""
    if top <= 5:
        return 1
    raw = top / 5
    magnitude: int = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def render_svg(days: Sequence[tuple[date, int]], title: str) -> str:
    """The SVG document of a bar chart with one bar per ``(day, count)``."""
    slot = PLOT_WIDTH / max(len(days), 1)
    step = _tick_step(max((n for _, n in days), default=0))
    ceiling = max(step, math.ceil(max((n for _, n in days), default=0) / step) * step)
    width, height = LEFT + PLOT_WIDTH + RIGHT, TOP + PLOT_HEIGHT + BOTTOM
    base = TOP + PLOT_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="28" font-size="16">{xml_escape(title)}</text>',
    ]
    for value in range(0, ceiling + 1, step):
        y = base - PLOT_HEIGHT * value / ceiling
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_WIDTH}" y2="{y:.1f}"'
            ' stroke="#dddddd"/>'
        )
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    label_every = max(1, math.ceil(len(days) / (PLOT_WIDTH / 80)))
    for index, (day, count) in enumerate(days):
        x = LEFT + index * slot
        bar = PLOT_HEIGHT * count / ceiling
        parts.append(
            f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{base - bar:.1f}"'
            f' width="{max(slot * 0.8, 1):.1f}" height="{bar:.1f}" fill="{BAR_COLOUR}"'
            f' data-day="{day.isoformat()}" data-changes="{count}">'
            f"<title>{day.isoformat()}: {count} changes</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{base + 18}" text-anchor="middle">'
                f"{day.isoformat()[5:]}</text>"
            )
    parts.append(
        f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + PLOT_WIDTH}" y2="{base}" stroke="black"/>'
    )
    parts.append(
        f'<text x="{LEFT + PLOT_WIDTH / 2}" y="{height - 12}" text-anchor="middle">'
        "day (changes per day)</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_chart(path: Path, days: Sequence[tuple[date, int]], title: str) -> None:
    """Write the chart of ``days`` to ``path`` (replacing it atomically)."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(render_svg(days, title), encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"--chart {str(path)!r}: cannot write it ({error.strerror})") from None
