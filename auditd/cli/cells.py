"""How one stored value becomes safe text: escaping, the missing value, CSV cells.

Stored data is untrusted: a session title can hold terminal escape
sequences, or text a spreadsheet would run as a formula. Every control
character (C0, DEL, C1, which includes the 8-bit CSI), bidirectional mark
or override and line separator is printed escaped (``\\x1b``, ``\\n``,
``\\u202e``) and a literal backslash is doubled, so what is shown is
unambiguous and cannot drive the terminal. In CSV, a text cell that starts
like a formula gets a leading ``'`` (OWASP's rule), unless asked not to.
"""

from __future__ import annotations

import re

# How a missing value (None, SQL NULL) reads in tables and lines for people;
# CSV leaves the cell empty and JSON writes null.
MISSING = "-"

# C0 controls, DEL, C1 controls (0x9b is CSI on its own), bidi marks and
# overrides, line and paragraph separators.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNSAFE_OR_BACKSLASH = re.compile(f"[\\\\{_UNSAFE}]")
_UNSAFE_ONLY = re.compile(f"[{_UNSAFE}]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}

# A spreadsheet treats a cell starting with one of these as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with control characters and backslashes escaped, safe to print."""
    return _UNSAFE_OR_BACKSLASH.sub(_escape_char, text)


def escape_line(text: str) -> str:
    """``text`` with control characters escaped but backslashes kept: for
    messages (errors) that quote stored data, already quoted with ``repr``."""
    return _UNSAFE_ONLY.sub(_escape_char, text)


def csv_text(text: str, *, keep_formulas: bool = False) -> str:
    """An escaped CSV cell of stored text; ``'`` in front when a spreadsheet
    would read it as a formula (unless ``keep_formulas``)."""
    cell = escape(text)
    if not keep_formulas and text.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 change``, ``2 changes``."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
