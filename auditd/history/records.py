"""The plain records the history API returns (re-exported by :mod:`auditd.api`).

Every timestamp is a timezone-aware UTC ``datetime``; every record is a
frozen dataclass, so a reporting script can hash, compare and keep them
without touching a database session. Field values are the Python values of
the model's columns (``datetime`` for timestamps, ``bool``, ``int``, ``str``,
JSON values as ``dict``/``list``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Operation = Literal["insert", "update", "delete"]
OPERATIONS: dict[int, Operation] = {0: "insert", 1: "update", 2: "delete"}

ReportDimension = Literal["day", "actor", "model", "field"]
REPORT_DIMENSIONS: tuple[ReportDimension, ...] = ("day", "actor", "model", "field")

# The pseudo-field under which a session's speakers changes appear.
SPEAKERS_FIELD = "speakers"


@dataclass(frozen=True, kw_only=True)
class SpeakerRef:
    """A speaker by id, with its name (current, or last known if deleted)."""

    id: int
    name: str | None


@dataclass(frozen=True, kw_only=True)
class FieldChange:
    """One field changed by one transaction.

    For a column, ``old`` and ``new`` are the values before and after (``old``
    is None when the row was inserted). For the ``speakers`` pseudo-field of a
    session, ``added`` and ``removed`` list the speakers that joined or left,
    and ``old``/``new`` are None.
    """

    field: str
    old: Any = None
    new: Any = None
    added: tuple[SpeakerRef, ...] = ()
    removed: tuple[SpeakerRef, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Change:
    """What one transaction did to one row: the unit of history.

    ``operation`` is ``insert``, ``update`` or ``delete`` (a speakers-only
    change of a session is an ``update``). ``fields`` lists the changed
    fields in column order, the ``speakers`` pseudo-field last. ``event_id``
    is the event the row belongs to (the event's own id for an event).
    ``actor``, ``origin``, ``reason`` and ``remote_addr`` are what the writer
    claimed; ``db_role`` (the database role that connected) and
    ``client_addr`` (the address it connected from) are what PostgreSQL
    itself recorded, None on SQLite and for history written before they
    were recorded.
    """

    model: str
    row_id: int
    transaction_id: int
    issued_at: datetime
    actor: str | None
    origin: str
    reason: str | None
    remote_addr: str | None
    application: str | None
    db_role: str | None
    client_addr: str | None
    operation: Operation
    event_id: int | None
    fields: tuple[FieldChange, ...]

    def field(self, name: str) -> FieldChange | None:
        """The change of field ``name`` in this transaction, or None."""
        return next((change for change in self.fields if change.field == name), None)


def with_fields(change: Change, fields: tuple[FieldChange, ...]) -> Change:
    """``change`` listing ``fields`` instead of its own."""
    # Not dataclasses.replace: it inspects every field of the class on each
    # call, 10 µs here, and who-changed narrows every change of a row.
    return Change(**{**change.__dict__, "fields": fields})


@dataclass(frozen=True, kw_only=True)
class ChangePage:
    """One page of the change feed, oldest first.

    A page always holds whole transactions, at most the ``limit`` asked
    for, with every matching change of each. Pass ``next_after_transaction``
    as ``after_transaction`` to get the next page or, when ``has_more`` is
    False, to poll later: no change is ever served twice or skipped.
    ``last_transaction_id`` is the id of the last transaction served here
    (None for an empty page); ``next_after_transaction`` may be larger, when
    every transaction up to it is known to be finished and already served.
    """

    changes: tuple[Change, ...]
    last_transaction_id: int | None
    next_after_transaction: int
    has_more: bool


@dataclass(frozen=True, kw_only=True)
class RowState:
    """A row as it was at ``at``, from the version valid at that moment.

    ``deleted`` is True when the row had been deleted by then; ``values``
    then holds its last values (and ``speakers`` its last speakers).
    ``speakers`` is None for models without speakers. ``transaction_id``,
    ``issued_at``, ``actor``, ``origin``, ``reason`` and ``db_role`` (the
    database role that wrote it, PostgreSQL only) describe the latest
    change of the row by then, a change of its speakers included.
    """

    model: str
    row_id: int
    at: datetime
    deleted: bool
    values: Mapping[str, Any]
    speakers: tuple[SpeakerRef, ...] | None
    transaction_id: int
    issued_at: datetime
    actor: str | None
    origin: str
    reason: str | None
    db_role: str | None


@dataclass(frozen=True, kw_only=True)
class RevertResult:
    """What a revert changed (or, with ``dry_run``, would change).

    ``operation`` is None when the row already is as of ``to_transaction``
    (nothing is written); ``transaction_id`` is the transaction that recorded
    the revert (None for a dry run or when nothing changed).
    """

    model: str
    row_id: int
    to_transaction: int
    dry_run: bool
    operation: Operation | None
    fields: tuple[FieldChange, ...]
    transaction_id: int | None


@dataclass(frozen=True, kw_only=True)
class ReportRow:
    """One group of a report: its key (None for changes without a recorded
    actor) and how many changes fall into it."""

    key: str | None
    changes: int


@dataclass(frozen=True, kw_only=True)
class Report:
    """Counts of changes in ``[since, until)``, grouped by ``by``.

    A change is one row changed by one transaction (one :class:`Change`).
    Keys: ``YYYY-MM-DD`` for ``day`` (in the report's time zone, only days
    with changes), the actor (None when unknown) for ``actor``, the
    model name for ``model``, ``model.field`` for ``field`` (one change
    counts once for each field it changed). ``total`` is the number of
    changes in the range.
    """

    by: ReportDimension
    since: datetime
    until: datetime
    zone: str
    rows: tuple[ReportRow, ...]
    total: int
