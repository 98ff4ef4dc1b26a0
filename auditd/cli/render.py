"""Output of the history commands: table, json, jsonl and csv.

``table`` is for people (the default on a terminal), the others for scripts
(``jsonl`` is the default when output is not a terminal). The JSON objects
are the API's records (:mod:`auditd.history.records`) field by field, so
their names are the dataclasses' and documented in ``docs/api.md``.
Timestamps are ISO 8601 with an offset, in UTC unless a display zone is
given. Stored data is escaped as :mod:`auditd.cli.cells` describes; JSON
escapes the same characters as ``\\uXXXX``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TextIO
from uuid import UUID
from zoneinfo import ZoneInfo

from auditd.cli.cells import MISSING, csv_text, escape, plural
from auditd.cli.table import layout
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

_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def default_format(stream: TextIO) -> str:
    """``table`` on a terminal, ``jsonl`` otherwise."""
    isatty = getattr(stream, "isatty", None)
    return "table" if isatty is not None and isatty() else "jsonl"


class Renderer:
    """Writes records in one format, with times shown in ``zone``.

    ``width`` limits table lines (None: no limit); ``keep_formulas`` writes
    CSV cells that look like formulas unchanged; ``err`` receives what must
    not mix into a CSV document (the feed's cursor).
    """

    def __init__(
        self,
        out: TextIO,
        fmt: str,
        zone: ZoneInfo,
        *,
        width: int | None = None,
        keep_formulas: bool = False,
        err: TextIO | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.out = out
        self.format = fmt
        self.zone = zone
        self.width = width
        self.keep_formulas = keep_formulas
        self.err = err if err is not None else sys.stderr

    # -- values ---------------------------------------------------------
    def time(self, value: datetime, *, table: bool = False) -> str:
        return value.astimezone(self.zone).isoformat(timespec="seconds" if table else "auto")

    def json_value(self, value: Any) -> Any:
        """A value as JSON: records as objects of their fields, times as ISO
        8601 strings in the display zone, and the other values an adopted
        table's columns may hold (numeric, date, uuid, bytea) as the closest
        JSON value."""
        if isinstance(value, datetime):
            return self.time(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: self.json_value(getattr(value, f.name)) for f in dataclasses.fields(value)
            }
        if isinstance(value, Mapping):
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
            return MISSING if self.format == "table" else ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return self.time(value, table=self.format == "table")
        if isinstance(value, dict | list):
            return escape(json.dumps(self.json_value(value), ensure_ascii=False, sort_keys=True))
        if isinstance(value, str) and self.format == "csv":
            return csv_text(value, keep_formulas=self.keep_formulas)
        return escape(str(value))

    # -- writers --------------------------------------------------------
    def write_json(self, document: Any) -> None:
        text = json.dumps(self.json_value(document), ensure_ascii=False, indent=2)
        self.out.write(_json_safe(text) + "\n")

    def write_jsonl(self, documents: Iterable[Any]) -> None:
        """One JSON object per line, each flushed (a reader may be following)."""
        for document in documents:
            text = json.dumps(self.json_value(document), ensure_ascii=False)
            self.out.write(_json_safe(text) + "\n")
            self.out.flush()

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

    def write_rows(
        self,
        header: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        rank: Sequence[int] | None = None,
        with_header: bool = True,
    ) -> None:
        """A table or csv of already rendered (escaped) cells; ``rank`` says
        which table columns give way first on a narrow terminal."""
        if self.format == "csv":
            writer = csv.writer(self.out, lineterminator="\n")
            if with_header:
                writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                self.out.flush()
            return
        lines = layout(header, list(rows), self.width, rank)
        self.out.write("\n".join(lines if with_header else lines[1:]) + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """A line for people (already escaped), written in table format only."""
        if self.format != "table":
            return
        lines = [text] if self.width is None else textwrap.wrap(text, self.width)
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


def _decimal(value: Decimal) -> int | float | str:
    """A number JSON readers get exactly: an int, a float that reads back as
    the same decimal, or else the decimal's text."""
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)


def _json_safe(text: str) -> str:
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# -- changes ----------------------------------------------------------------


def _speaker_list(refs: tuple[SpeakerRef, ...]) -> str:
    return "; ".join(f"{ref.name} (#{ref.id})" if ref.name else f"#{ref.id}" for ref in refs)


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


# One line per field change; the names of the JSON object Change where they match.
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
    "db_role",
    "client_addr",
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
        renderer.cell(change.db_role),
        renderer.cell(change.client_addr),
    ]
    fields = change.fields or (None,)
    return [
        [*head, *(([f.field, *_old_new(renderer, f)]) if f else ["", "", ""]), *tail]
        for f in fields
    ]


def client(change: Change) -> str | None:
    """Who connected, as a table shows it: ``app_writer via psql (10.0.0.5)``
    (the database role, when recorded, first); None when unknown."""
    if change.application and change.remote_addr:
        where: str | None = f"{change.application} ({change.remote_addr})"
    else:
        where = change.application or change.remote_addr
    if change.db_role:
        return f"{change.db_role} via {where}" if where else change.db_role
    return where


def _table_header(with_row: bool) -> tuple[list[str], list[int]]:
    """Column titles and how early each gives way on a narrow terminal."""
    columns = [
        ("tx", 0),
        ("time", 0),
        *([("model", 0), ("id", 0)] if with_row else []),
        ("actor", 1),
        ("origin", 1),
        ("operation", 0),
        ("field", 1),
        ("old", 1),
        ("new", 1),
        ("reason", 2),
        ("client", 2),
    ]
    return [name for name, _ in columns], [rank for _, rank in columns]


def _table_change_rows(renderer: Renderer, change: Change, with_row: bool) -> list[list[str]]:
    head = [
        str(change.transaction_id),
        renderer.cell(change.issued_at),
        *([change.model, str(change.row_id)] if with_row else []),
        renderer.cell(change.actor),
        renderer.cell(change.origin),
        change.operation,
    ]
    tail = [renderer.cell(change.reason), renderer.cell(client(change))]
    rows = []
    for index, field in enumerate(change.fields or (None,)):
        cells = [field.field, *_old_new(renderer, field)] if field else ["", "", ""]
        if index == 0:
            rows.append([*head, *cells, *tail])
        else:  # the same change: its transaction's cells are not repeated
            rows.append([*([""] * len(head)), *cells, "", ""])
    return rows


def write_changes(
    renderer: Renderer, changes: Sequence[Change], *, with_row: bool, with_header: bool = True
) -> None:
    """History, who-changed and feed entries; one table/csv line per field change."""
    if renderer.format == "json":
        renderer.write_json(changes)
    elif renderer.format == "jsonl":
        renderer.write_jsonl(changes)
    elif renderer.format == "csv":
        rows = [row for c in changes for row in _csv_change_rows(renderer, c)]
        renderer.write_rows(CSV_CHANGE_COLUMNS, rows, with_header=with_header)
    else:
        header, rank = _table_header(with_row)
        rows = [row for c in changes for row in _table_change_rows(renderer, c, with_row)]
        renderer.write_rows(header, rows, rank=rank)


def cursor(page: ChangePage) -> dict[str, Any]:
    """The page's cursor: the JSON page object without its changes."""
    return {f.name: getattr(page, f.name) for f in dataclasses.fields(page) if f.name != "changes"}


def write_page(renderer: Renderer, page: ChangePage, *, with_header: bool = True) -> None:
    """A page of the change feed, and its cursor in every format: inside the
    json object; as a last line of its own in jsonl; on stderr for csv
    (the CSV document stays plain); as a closing note in a table."""
    if renderer.format == "json":
        renderer.write_json(page)
        return
    write_changes(renderer, page.changes, with_row=True, with_header=with_header)
    if renderer.format == "jsonl":
        renderer.write_jsonl([cursor(page)])
    elif renderer.format == "csv":
        pairs = " ".join(f"{k}={json.dumps(v)}" for k, v in cursor(page).items())
        renderer.err.write(f"cursor: {pairs}\n")
        renderer.err.flush()
    else:
        transactions = len({c.transaction_id for c in page.changes})
        more = "more waiting" if page.has_more else "up to date"
        renderer.note(
            f"{plural(len(page.changes), 'change')} in {plural(transactions, 'transaction')};"
            f" {more}; next: --after-transaction {page.next_after_transaction}"
        )


# -- single records -----------------------------------------------------------


def _latest_change(renderer: Renderer, state: RowState) -> str:
    by = f" by {renderer.cell(state.actor)}" if state.actor is not None else ""
    why = f": {renderer.cell(state.reason)}" if state.reason else ""
    role = f", database role {renderer.cell(state.db_role)}" if state.db_role else ""
    return (
        f"latest change: transaction {state.transaction_id},"
        f" {renderer.time(state.issued_at, table=True)}{by} ({renderer.cell(state.origin)}{role})"
        f"{why}"
    )


def write_state(renderer: Renderer, state: RowState) -> None:
    """``show``: the row's fields at a time, one line per field in table/csv."""
    if renderer.write_document(state):
        return
    status = "deleted" if state.deleted else "exists"
    renderer.note(
        f"{state.model} {state.row_id} at {renderer.time(state.at, table=True)}: {status};"
        f" {_latest_change(renderer, state)}"
    )
    rows = [[name, renderer.cell(value)] for name, value in state.values.items()]
    if state.speakers is not None:
        rows.append([SPEAKERS_FIELD, renderer.cell(_speaker_list(state.speakers))])
    renderer.write_rows(["field", "value"], rows, rank=[0, 1])


def write_revert(renderer: Renderer, result: RevertResult) -> None:
    """``revert``: what changed (or would change, for a dry run)."""
    if renderer.write_document(result):
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
    renderer.write_rows(["field", "old", "new"], rows, rank=[0, 1, 1])


def write_report(renderer: Renderer, report: Report) -> None:
    """``report``: one line per group; jsonl lines carry the grouping."""
    if renderer.format == "json":
        renderer.write_json(report)
        return
    if renderer.format == "jsonl":
        renderer.write_jsonl({"by": report.by, **renderer.json_value(r)} for r in report.rows)
        return
    rows = [[renderer.cell(row.key), str(row.changes)] for row in report.rows]
    renderer.write_rows([report.by, "changes"], rows, rank=[1, 0])
    renderer.note(
        f"{plural(report.total, 'change')} from {renderer.time(report.since, table=True)}"
        f" until {renderer.time(report.until, table=True)}"
    )
