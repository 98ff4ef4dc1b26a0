"""A bar chart of changes over time, written as SVG by hand.

SVG is text, opens in any browser and needs no plotting library. The bar
width follows the range: a bar per day up to four months, per week (from
Monday) up to three years, per month up to twenty years, per year beyond,
so that a bar stays a few pixels wide. Every bucket of the
range gets a bar (empty ones included, so gaps are visible), with a
tooltip giving the exact count.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from auditd.cli.cells import plural
from auditd.errors import UsageError
from auditd.history.records import ReportRow

CHART_SUFFIXES = (".svg",)
PLOT_WIDTH = 900
PLOT_HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 48, 56
BAR_COLOUR = "#336699"
# The longest range (in days) drawn with each bucket; longer ones use years.
BUCKET_LIMITS = (("day", 123), ("week", 3 * 366), ("month", 20 * 366))


def check_chart_path(text: str) -> Path:
    """The chart file to write: must end in ``.svg`` and its folder must exist.

    Raises :class:`UsageError` otherwise (checked before any query runs).
    """
    path = Path(text)
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise UsageError(
            f"--chart {text!r}: unsupported chart format {path.suffix!r}"
            if path.suffix
            else f"--chart {text!r}: the file name has no suffix",
            "charts are written as SVG; give a file name ending in .svg",
        )
    if not path.parent.is_dir():
        raise UsageError(f"--chart {text!r}: folder {str(path.parent)!r} does not exist")
    return path


def _local_days(since: datetime, until: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The first and last local day in ``zone`` that overlap [since, until)."""
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    return first, last


def bucket_for(since: datetime, until: datetime, zone: ZoneInfo) -> str:
    """``day``, ``week``, ``month`` or ``year``: the bars of a chart of this range."""
    first, last = _local_days(since, until, zone)
    days = (last - first).days + 1
    return next((name for name, limit in BUCKET_LIMITS if days <= limit), "year")


def bucket_start(day: date, bucket: str) -> date:
    """The first day of the ``bucket`` holding ``day`` (weeks start on Monday)."""
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    if bucket == "year":
        return day.replace(month=1, day=1)
    return day


def _next_start(start: date, bucket: str) -> date:
    if bucket == "day":
        return start + timedelta(days=1)
    if bucket == "week":
        return start + timedelta(days=7)
    if bucket == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


@dataclass(frozen=True)
class Bar:
    """One bucket: its first day and the changes in it."""

    start: date
    changes: int


def bucket_counts(
    rows: Sequence[ReportRow], since: datetime, until: datetime, zone: ZoneInfo, bucket: str
) -> list[Bar]:
    """Bars from a ``by="day"`` report: every ``bucket`` overlapping the range,
    with the changes of its days (0 for none)."""
    counts: Counter[date] = Counter()
    for row in rows:
        if row.key is not None:
            counts[bucket_start(date.fromisoformat(row.key), bucket)] += row.changes
    first, last = _local_days(since, until, zone)
    bars, start = [], bucket_start(first, bucket)
    while start <= last:
        bars.append(Bar(start, counts.get(start, 0)))
        try:
            start = _next_start(start, bucket)
        except (OverflowError, ValueError):  # the bucket ends with the calendar
            break
    return bars


def _label(start: date, bucket: str) -> str:
    if bucket == "day":
        return start.isoformat()[5:]
    if bucket == "month":
        return start.isoformat()[:7]
    if bucket == "year":
        return str(start.year)
    return start.isoformat()


def _tick_step(top: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving about five grid lines."""
    if top <= 5:
        return 1
    raw = top / 5
    magnitude: int = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def render_svg(bars: Sequence[Bar], bucket: str, title: str) -> str:
    """The SVG document of a bar chart with one bar per ``bucket``."""
    most = max((bar.changes for bar in bars), default=0)
    slot = PLOT_WIDTH / max(len(bars), 1)
    step = _tick_step(most)
    ceiling = max(step, math.ceil(most / step) * step)
    width, height = LEFT + PLOT_WIDTH + RIGHT, TOP + PLOT_HEIGHT + BOTTOM
    base = TOP + PLOT_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12"'
        f' data-bucket="{bucket}">',
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
    label = max(len(_label(bar.start, bucket)) for bar in bars) * 8 + 16 if bars else 80
    label_every = max(1, math.ceil(len(bars) / (PLOT_WIDTH / label)))
    for index, bar in enumerate(bars):
        x = LEFT + index * slot
        tall = PLOT_HEIGHT * bar.changes / ceiling
        start = bar.start.isoformat()
        parts.append(
            f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{base - tall:.1f}"'
            f' width="{max(slot * 0.8, 0.5):.1f}" height="{tall:.1f}" fill="{BAR_COLOUR}"'
            f' data-start="{start}" data-changes="{bar.changes}">'
            f"<title>{bucket} of {start}: {plural(bar.changes, 'change')}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{base + 18}" text-anchor="middle">'
                f"{_label(bar.start, bucket)}</text>"
            )
    parts.append(
        f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + PLOT_WIDTH}" y2="{base}" stroke="black"/>'
    )
    parts.append(
        f'<text x="{LEFT + PLOT_WIDTH / 2}" y="{height - 12}" text-anchor="middle">'
        f"{bucket} (changes per {bucket})</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_chart(path: Path, bars: Sequence[Bar], bucket: str, title: str) -> None:
    """Write the chart of ``bars`` to ``path`` (replacing it atomically)."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(render_svg(bars, bucket, title), encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"--chart {str(path)!r}: cannot write it ({error.strerror})") from None
