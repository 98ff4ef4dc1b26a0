"""Tables for people, fitted to the terminal's width.

The width is ``COLUMNS`` when set (as for any terminal program), else the
terminal's own when printing to one, else unlimited. When a table is wider,
the least important columns give way first and, within one importance, the
widest first; a cut cell ends with ``…``. Widths count terminal cells, so
East Asian wide characters line up. Other formats carry the full values.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

from rich.cells import cell_len, set_cell_size

MARKER = "…"
SEPARATOR = "  "
# Without a width limit a cell still stops here: tables are for reading.
MAX_CELL = 80
# A column cut to fit keeps at least this many cells (the last is the marker).
MIN_CELL = 3


def terminal_width(out: TextIO) -> int | None:
    """``$COLUMNS`` if it is a positive number, else the terminal's width when
    ``out`` is a terminal, else None (no limit)."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if out.isatty():
            return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return None


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, ending in the marker when cut."""
    if cell_len(text) <= width:
        return text
    if width <= 0:
        return ""
    return set_cell_size(text, width - 1).rstrip() + MARKER


def _fit(natural: list[int], rank: Sequence[int], budget: int) -> list[int]:
    """Column widths within ``budget``: columns of the highest rank shrink
    first, the widest of them first, none below ``MIN_CELL``."""
    widths = list(natural)
    excess = sum(widths) - budget
    for level in sorted(set(rank), reverse=True):
        group = [i for i, r in enumerate(rank) if r == level]
        while excess > 0:
            widest = max(group, key=lambda i: widths[i])
            if widths[widest] <= MIN_CELL:
                break
            widths[widest] -= 1
            excess -= 1
    return widths


def layout(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None,
    rank: Sequence[int] | None = None,
) -> list[str]:
    """The lines of a table: upper-case titles, then one line per row.

    ``rank`` says how early each column gives way when the table is wider
    than ``width`` (higher: earlier; default: all alike). No line is wider
    than ``width``.
    """
    titles = [name.upper() for name in header]
    natural = [
        min(MAX_CELL, max([cell_len(t), *(cell_len(r[i]) for r in rows)]))
        for i, t in enumerate(titles)
    ]
    widths = natural
    if width is not None:
        budget = width - len(SEPARATOR) * (len(titles) - 1)
        widths = _fit(natural, rank or [0] * len(titles), budget)
    lines = []
    for row in [titles, *rows]:
        cells = [clip(cell, w) for cell, w in zip(row, widths, strict=True)]
        padded = [c + " " * (w - cell_len(c)) for c, w in zip(cells, widths, strict=True)]
        line = SEPARATOR.join(padded).rstrip()
        lines.append(line if width is None else clip(line, width))
    return lines
