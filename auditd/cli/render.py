"""Output of the history commands: table, json, jsonl and csv.

``table`` is for people (the default on a terminal), the others for scripts
(``jsonl`` is the default when output is not a terminal). Field names of
the JSON objects are documented in ``docs/api.md`` and stable. Timestamps
are ISO 8601 with an offset, in UTC unless a display zone is given.

Stored data is untrusted: a session title can hold terminal escape
sequences. In table and csv output every control character (C0, DEL, C1,
which includes the 8-bit CSI), bidirectional override and line separator
is printed escaped (``\\x1b``, ``\\n``, ``\\u202e``) and a literal backslash
is doubled, so what is shown is unambiguous and cannot drive the terminal.
JSON escapes the same characters as ``\\uXXXX``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TextIO
from uuid import UUID
from zoneinfo import ZoneInfo

from auditd.history.records import (
    SPEAKERS_FIELD,
    Change,
    ChangePage,
    FieldChange,
    Report,
    RevertResult,
    RowState,
    SpeakerRef,
)

FORMATS = ("table", "json", "jsonl", "csv")
TABLE_CELL_WIDTH = 60
NULL_CELL = "(null)"

# C0 controls, DEL, C1 controls (0x9b is CSI on its own), bidi marks and
# overrides, line and paragraph separators.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNSAFE_OR_BACKSLASH = re.compile(f"[\\\\{_UNSAFE}]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with control characters and backslashes escaped, safe to print."""
    return _UNSAFE_OR_BACKSLASH.sub(_escape_char, text)


def default_format(stream: TextIO) -> str:
    """``table`` on a terminal, ``jsonl`` otherwise."""
    isatty = getattr(stream, "isatty", None)
    return "table" if isatty is not None and isatty() else "jsonl"


class Renderer:
    """Writes records in one format, with times shown in ``zone``."""

    def __init__(self, out: TextIO, fmt: str, zone: ZoneInfo) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.out = out
        self.format = fmt
        self.zone = zone

    # -- values ---------------------------------------------------------
    def time(self, value: datetime, *, table: bool = False) -> str:
        return value.astimezone(self.zone).isoformat(timespec="seconds" if table else "auto")

    def json_value(self, value: Any) -> Any:
        """A value as JSON: times as ISO 8601 strings in the display zone;
        the other values an adopted table's columns may hold (numeric, date,
        uuid, bytea) as the closest JSON value."""
        if isinstance(value, datetime):
            return self.time(value)
        if isinstance(value, SpeakerRef):
            return {"id": value.id, "name": value.name}
        if isinstance(value, dict):
            return {str(k): self.json_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.json_value(v) for v in value]
        if isinstance(value, Decimal):
            return _decimal(value)
        if isinstance(value, date | time):
            return value.isoformat()
        if isinstance(value, bytes | memoryview):
            return bytes(value).hex()
        if isinstance(value, UUID):
            return str(value)
        return value

    def cell(self, value: Any) -> str:
        """A value as escaped text for a table or csv cell."""
        if value is None:
            return NULL_CELL if self.format == "table" else ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return self.time(value, table=self.format == "table")
        if isinstance(value, dict | list):
            return escape(json.dumps(self.json_value(value), ensure_ascii=False, sort_keys=True))
        return escape(str(value))

    # -- writers --------------------------------------------------------
    def write_json(self, document: Any) -> None:
        text = json.dumps(self.json_value(document), ensure_ascii=False, indent=2)
        self.out.write(_json_safe(text) + "\n")

    def write_jsonl(self, documents: Iterable[Any]) -> None:
        for document in documents:
            text = json.dumps(self.json_value(document), ensure_ascii=False)
            self.out.write(_json_safe(text) + "\n")

    def write_document(self, document: Any) -> bool:
        """One JSON object, in the json or jsonl format; False (nothing
        written) for table and csv, which the caller lays out itself."""
        if self.format == "json":
            self.write_json(document)
        elif self.format == "jsonl":
            self.write_jsonl([document])
        else:
            return False
        return True

    def write_rows(self, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """A table or csv of already rendered (escaped) cells."""
        if self.format == "csv":
            writer = csv.writer(self.out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            return
        cells = [[_clip(cell) for cell in row] for row in rows]
        titles = [name.upper() for name in header]
        widths = [max([len(t), *(len(r[i]) for r in cells)]) for i, t in enumerate(titles)]
        for row in [titles, *cells]:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.out.write(line.rstrip() + "\n")

    def note(self, text: str) -> None:
        """A line for people, written in table format only."""
        if self.format == "table":
            self.out.write(text + "\n")


def _decimal(value: Decimal) -> int | float | str:
    """A number JSON readers get exactly: an int, a float that reads back as
    the same decimal, or else the decimal's text."""
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)


def _clip(cell: str) -> str:
    return cell if len(cell) <= TABLE_CELL_WIDTH else cell[: TABLE_CELL_WIDTH - 1] + "…"


def _json_safe(text: str) -> str:
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# -- changes ----------------------------------------------------------------


def field_json(change: FieldChange) -> dict[str, Any]:
    """The documented JSON object of one field change."""
    return {
        "field": change.field,
        "old": change.old,
        "new": change.new,
        "added": list(change.added),
        "removed": list(change.removed),
    }


def change_json(change: Change) -> dict[str, Any]:
    """The documented JSON object of one change."""
    return {
        "model": change.model,
        "row_id": change.row_id,
        "transaction_id": change.transaction_id,
        "issued_at": change.issued_at,
        "actor": change.actor,
        "origin": change.origin,
        "reason": change.reason,
        "remote_addr": change.remote_addr,
        "application": change.application,
        "operation": change.operation,
        "event_id": change.event_id,
        "fields": [field_json(f) for f in change.fields],
    }


def _speakers_cell(renderer: Renderer, label: str, refs: tuple[SpeakerRef, ...]) -> str:
    if not refs:
        return ""
    return renderer.cell(f"{label}: {_speaker_list(refs)}")


def _old_new(renderer: Renderer, change: FieldChange) -> tuple[str, str]:
    if change.field == SPEAKERS_FIELD:
        return (
            _speakers_cell(renderer, "removed", change.removed),
            _speakers_cell(renderer, "added", change.added),
        )
    return renderer.cell(change.old), renderer.cell(change.new)


CSV_CHANGE_COLUMNS = (
    "transaction_id",
    "issued_at",
    "model",
    "row_id",
    "event_id",
    "actor",
    "origin",
    "operation",
    "field",
    "old",
    "new",
    "reason",
    "remote_addr",
    "application",
)


def _csv_change_rows(renderer: Renderer, change: Change) -> list[list[str]]:
    head = [
        renderer.cell(change.transaction_id),
        renderer.cell(change.issued_at),
        change.model,
        renderer.cell(change.row_id),
        renderer.cell(change.event_id),
        renderer.cell(change.actor),
        renderer.cell(change.origin),
        change.operation,
    ]
    tail = [
        renderer.cell(change.reason),
        renderer.cell(change.remote_addr),
        renderer.cell(change.application),
    ]
    fields = change.fields or (None,)
    return [
        [*head, *(([f.field, *_old_new(renderer, f)]) if f else ["", "", ""]), *tail]
        for f in fields
    ]


def _table_change_rows(renderer: Renderer, change: Change, with_row: bool) -> list[list[str]]:
    head = [
        str(change.transaction_id),
        renderer.cell(change.issued_at),
        *([change.model, str(change.row_id)] if with_row else []),
        renderer.cell(change.actor),
        renderer.cell(change.origin),
        change.operation,
    ]
    blank = [""] * len(head)
    rows = []
    for index, field in enumerate(change.fields or (None,)):
        cells = [field.field, *_old_new(renderer, field)] if field else ["", "", ""]
        reason = renderer.cell(change.reason) if index == 0 and change.reason else ""
        rows.append([*(head if index == 0 else blank), *cells, reason])
    return rows


def write_changes(renderer: Renderer, changes: Sequence[Change], *, with_row: bool) -> None:
    """History, who-changed and feed entries; one table/csv line per field change."""
    if renderer.format == "json":
        renderer.write_json([change_json(c) for c in changes])
    elif renderer.format == "jsonl":
        renderer.write_jsonl(change_json(c) for c in changes)
    elif renderer.format == "csv":
        rows = [row for c in changes for row in _csv_change_rows(renderer, c)]
        renderer.write_rows(CSV_CHANGE_COLUMNS, rows)
    else:
        header = ["tx", "time", *(["model", "id"] if with_row else []), "actor", "origin"]
        header += ["operation", "field", "old", "new", "reason"]
        rows = [row for c in changes for row in _table_change_rows(renderer, c, with_row)]
        renderer.write_rows(header, rows)


def write_page(renderer: Renderer, page: ChangePage) -> None:
    """A page of the change feed; json carries the cursor, table notes it."""
    if renderer.format == "json":
        renderer.write_json(
            {
                "changes": [change_json(c) for c in page.changes],
                "last_transaction_id": page.last_transaction_id,
                "next_after_transaction": page.next_after_transaction,
                "has_more": page.has_more,
            }
        )
        return
    write_changes(renderer, page.changes, with_row=True)
    more = "more available" if page.has_more else "up to date"
    renderer.note(
        f"{len(page.changes)} changes; {more}; next: --after-transaction "
        f"{page.next_after_transaction}"
    )


def _speaker_list(refs: tuple[SpeakerRef, ...]) -> str:
    return "; ".join(f"{ref.name or '?'} (#{ref.id})" for ref in refs)


def state_json(state: RowState) -> dict[str, Any]:
    """The documented JSON object of a row's state at a time."""
    return {
        "model": state.model,
        "row_id": state.row_id,
        "at": state.at,
        "deleted": state.deleted,
        "values": dict(state.values),
        "speakers": None if state.speakers is None else list(state.speakers),
        "transaction_id": state.transaction_id,
        "issued_at": state.issued_at,
        "actor": state.actor,
        "origin": state.origin,
        "reason": state.reason,
    }


def write_state(renderer: Renderer, state: RowState) -> None:
    """``show``: the row's fields at a time, one line per field in table/csv."""
    if renderer.write_document(state_json(state)):
        return
    status = "deleted" if state.deleted else "exists"
    renderer.note(
        f"{state.model} {state.row_id} at {renderer.time(state.at, table=True)}: {status}"
        f" (version of transaction {state.transaction_id},"
        f" {renderer.time(state.issued_at, table=True)}, by {renderer.cell(state.actor)})"
    )
    rows = [[name, renderer.cell(value)] for name, value in state.values.items()]
    if state.speakers is not None:
        rows.append([SPEAKERS_FIELD, renderer.cell(_speaker_list(state.speakers))])
    renderer.write_rows(["field", "value"], rows)


def revert_json(result: RevertResult) -> dict[str, Any]:
    """The documented JSON object of a revert."""
    return {
        "model": result.model,
        "row_id": result.row_id,
        "to_transaction": result.to_transaction,
        "dry_run": result.dry_run,
        "operation": result.operation,
        "transaction_id": result.transaction_id,
        "fields": [field_json(f) for f in result.fields],
    }


def write_revert(renderer: Renderer, result: RevertResult) -> None:
    """``revert``: what changed (or would change, for a dry run)."""
    if renderer.write_document(revert_json(result)):
        return
    target = f"{result.model} {result.row_id} to transaction {result.to_transaction}"
    if result.operation is None:
        renderer.note(f"revert {target}: already in that state, nothing written")
    elif result.dry_run:
        renderer.note(f"revert {target} (dry run, nothing written): would {result.operation}")
    else:
        renderer.note(
            f"revert {target}: {result.operation}, recorded as transaction {result.transaction_id}"
        )
    rows = [[f.field, *_old_new(renderer, f)] for f in result.fields]
    renderer.write_rows(["field", "old", "new"], rows)


def report_json(report: Report) -> dict[str, Any]:
    """The documented JSON object of a report."""
    return {
        "by": report.by,
        "since": report.since,
        "until": report.until,
        "zone": report.zone,
        "total": report.total,
        "rows": [{"key": row.key, "changes": row.changes} for row in report.rows],
    }


def write_report(renderer: Renderer, report: Report) -> None:
    """``report``: one line per group; jsonl lines carry the grouping."""
    if renderer.format == "json":
        renderer.write_json(report_json(report))
        return
    if renderer.format == "jsonl":
        renderer.write_jsonl(
            {"by": report.by, "key": r.key, "changes": r.changes} for r in report.rows
        )
        return
    rows = [[renderer.cell(row.key), str(row.changes)] for row in report.rows]
    renderer.write_rows([report.by, "changes"], rows)
    renderer.note(
        f"{report.total} changes from {renderer.time(report.since, table=True)}"
        f" until {renderer.time(report.until, table=True)}"
    )
