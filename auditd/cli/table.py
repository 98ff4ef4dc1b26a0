"""Tables for people, fitted to the terminal's width.

The width is ``COLUMNS`` when set (as for any terminal program), else the
terminal's own when printing to one, else unlimited. When a table is wider,
the least important columns give way first and, within one importance, the
widest first, keeping their titles readable as long as they can; a cut
cell ends with ``…``. Widths count terminal cells, so
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


def _shrink(widths: list[int], columns: list[int], floors: Sequence[int], excess: int) -> int:
    """Take up to ``excess`` cells from ``columns``, widest first, none below
    its floor; returns the excess left."""
    while excess > 0:
        widest = max(columns, key=lambda i: widths[i] - floors[i])
        if widths[widest] <= floors[widest]:
            break
        widths[widest] -= 1
        excess -= 1
    return excess


def _fit(natural: list[int], titles: list[int], rank: Sequence[int], budget: int) -> list[int]:
    """Column widths within ``budget``. Columns of the highest rank give way
    first, down to their title's width, then together with the next rank,
    and so on; then all ranked columns, then every column, down to
    ``MIN_CELL``. Rank 0 columns (ids, times) are cut last."""
    widths = list(natural)
    excess = sum(widths) - budget
    keep_titles = [min(n, max(t, MIN_CELL)) for n, t in zip(natural, titles, strict=True)]
    keep_some = [min(n, MIN_CELL) for n in natural]
    for level in range(max(rank, default=0), 0, -1):
        ranked = [i for i, r in enumerate(rank) if r >= level]
        excess = _shrink(widths, ranked, keep_titles, excess)
    flexible = [i for i, r in enumerate(rank) if r > 0]
    if flexible:
        excess = _shrink(widths, flexible, keep_some, excess)
    _shrink(widths, list(range(len(widths))), keep_some, excess)
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
        lengths = [cell_len(t) for t in titles]
        widths = _fit(natural, lengths, rank or [0] * len(titles), budget)
    lines = []
    for row in [titles, *rows]:
        cells = [clip(cell, w) for cell, w in zip(row, widths, strict=True)]
        padded = [c + " " * (w - cell_len(c)) for c, w in zip(cells, widths, strict=True)]
        line = SEPARATOR.join(padded).rstrip()
        lines.append(line if width is None else clip(line, width))
    return lines
