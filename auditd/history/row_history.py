"""One row's history: its versions and its members' versions, paired in memory.

A row has few versions, so its history is read with the two plain
statements a person would write (the row's versions and its speaker links,
each with its transaction) and every version is paired with its
predecessor here, by the validity linkage (the predecessor of ``v`` is the
version whose ``end_transaction_id`` is ``v.transaction_id``). Joining the
version table to itself in SQL, as the change feed does for many rows
(:mod:`auditd.history.diff`), would send every old value a second time and
make each call plan a wider statement. The same read serves a row's state
at a moment (:mod:`auditd.history.state_at`). The history is checked first:
a row whose linkage is broken is refused rather than shown with wrong
values.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditd.errors import INTEGRITY_HINT, IntegrityError
from auditd.history.diff import (
    DELETE,
    TRANSACTION_COLUMNS,
    UPDATE,
    MemberLink,
    MembersDiff,
    VersionDiff,
    changed_fields,
    make_change,
    member_name,
    members_change,
    transaction_columns,
)
from auditd.history.records import Change, FieldChange, with_fields
from auditd.history.tables import VersionedModel
from auditd.ledger.linkage import (
    CheckedVersion,
    LinkageProblem,
    VersionLink,
    current_is_live,
    read_problems,
)

# A version or link row, read as a named tuple: its columns by label, as
# attributes. A SQLAlchemy Row resolves each attribute by name in Python,
# which made attribute access most of a history call's own time.
Record = Any

# A version row: transaction_id, end_transaction_id, operation_type,
# event_id, is_live and the t_* columns, then the model's fields from here on.
_FIELDS_START = 5 + len(TRANSACTION_COLUMNS)


@functools.cache
def _statements(
    model: VersionedModel, dialect: str
) -> tuple[sa.Select[Any], sa.Select[Any] | None]:
    # The transaction is outer-joined so that a version whose transaction row
    # is missing shows up (with NULL t_* columns) and is refused.
    diff = VersionDiff.of(model, dialect)
    v, t = diff.v, diff.t
    row_id: sa.BindParameter[int] = sa.bindparam("row_id")
    versions = (
        sa.select(
            v.c.transaction_id,
            v.c.end_transaction_id,
            v.c.operation_type,
            diff.event_id().label("event_id"),
            current_is_live(model.table, v, (model.key,)).label("is_live"),
            *transaction_columns(t),
            *(v.c[f].label(f"n_{f}") for f in model.fields),
        )
        .select_from(v.outerjoin(t, t.c.id == v.c.transaction_id))
        .where(diff.row_key == row_id)
    )
    if model.members is None:
        return versions, None
    association = MembersDiff.of(model)
    membership, s, links_t = model.members, association.s, association.t
    link_key = (membership.parent_column, membership.member_column)
    members = (
        sa.select(
            association.member_id.label("member_id"),
            s.c.transaction_id,
            s.c.end_transaction_id,
            s.c.operation_type,
            member_name(membership, association.member_id).label("member_name"),
            current_is_live(membership.table, s, link_key).label("is_live"),
            *transaction_columns(links_t),
        )
        .select_from(s.outerjoin(links_t, links_t.c.id == s.c.transaction_id))
        .where(association.parent_id == row_id)
    )
    return versions, members


@dataclass(frozen=True)
class RowVersions:
    """One row's versions and its members' versions (a session's speaker
    links), each with its transaction's ``t_*`` columns, read in one
    snapshot and checked: their chains are intact, every version has its
    transaction row, and each current version agrees with the live row.

    ``versions`` rows have ``transaction_id``, ``end_transaction_id``,
    ``operation_type``, ``event_id`` and ``t_*`` (values: :meth:`values`);
    ``links`` rows have ``member_id``, ``member_name`` and the same
    transaction columns.
    """

    model: VersionedModel
    row_id: int
    versions: Sequence[Record]
    links: Sequence[Record]

    def values(self, version: Record) -> dict[str, Any]:
        """The model's fields as ``version`` holds them."""
        return dict(zip(self.model.fields, version[_FIELDS_START:], strict=True))

    @functools.cached_property
    def issued_at(self) -> dict[int, datetime]:
        """When each transaction that wrote a version or link of the row was issued."""
        return {row.transaction_id: row.t_issued_at for row in (*self.versions, *self.links)}


def read_row(
    connection: sa.Connection, model: VersionedModel, row_id: int, what: str
) -> RowVersions:
    """The row's versions and links (two statements for a model with
    members, such as a session; one otherwise).

    Raises IntegrityError naming ``what`` (for example "show the history of
    session 7") when the row's history is broken: wrong values are worse
    than none.
    """
    versions_query, members_query = _statements(model, connection.dialect.name)
    parameters = {"row_id": row_id}
    versions = _records(connection.execute(versions_query, parameters))
    links = [] if members_query is None else _records(connection.execute(members_query, parameters))
    problems = _problems(model, row_id, versions, links)
    if problems:
        raise IntegrityError(f"refusing to {what}: {problems[0]}", INTEGRITY_HINT)
    return RowVersions(model=model, row_id=row_id, versions=versions, links=links)


def _records(result: sa.CursorResult[Any]) -> list[Record]:
    record = _record_type(tuple(result.keys()))
    return list(map(record._make, result.all()))


@functools.cache
def _record_type(labels: tuple[str, ...]) -> Any:
    return collections.namedtuple("Record", labels, rename=True)


def _problems(
    model: VersionedModel, row_id: int, versions: Sequence[Record], links: Sequence[Record]
) -> list[LinkageProblem]:
    """The breaks in the row's chain and in its members' chains (see
    :func:`auditd.ledger.linkage.read_problems`)."""

    def checked(row: Record, key: tuple[Any, ...]) -> CheckedVersion:
        link = VersionLink(
            key=key,
            transaction_id=row.transaction_id,
            end_transaction_id=row.end_transaction_id,
            operation_type=row.operation_type,
        )
        return CheckedVersion(
            link=link, has_transaction=row.t_issued_at is not None, is_live=row.is_live
        )

    problems = read_problems(model.table.name, [checked(row, (row_id,)) for row in versions])
    if model.members is not None:
        problems += read_problems(
            model.members.table.name, [checked(row, (row_id, row.member_id)) for row in links]
        )
    return problems


def _version_changes(
    model: VersionedModel, row_id: int, versions: Sequence[Record]
) -> dict[int, Change]:
    """Each version's change, by transaction id, in chain order (oldest first).

    Versions no chain reaches (only possible with a broken linkage, which
    is refused before) follow in (issued_at, id) order rather than being lost.
    """
    by_tx = {row.transaction_id: row for row in versions}
    closed_by = {row.end_transaction_id: row for row in versions}
    time_order = sorted(versions, key=lambda row: (row.t_issued_at, row.transaction_id))
    ordered: list[Record] = []
    seen: set[int] = set()
    for first in time_order:
        if first.transaction_id in closed_by:
            continue  # not the start of a chain
        row: Record | None = first
        while row is not None and row.transaction_id not in seen:
            seen.add(row.transaction_id)
            ordered.append(row)
            row = None if row.end_transaction_id is None else by_tx.get(row.end_transaction_id)
    ordered += [row for row in time_order if row.transaction_id not in seen]
    changes: dict[int, Change] = {}
    for row in ordered:
        previous = closed_by.get(row.transaction_id)
        old = None if previous is None else previous[_FIELDS_START:]
        fields = changed_fields(model, row.operation_type, row[_FIELDS_START:], old)
        changes[row.transaction_id] = make_change(
            model, row_id, row.event_id, row, row.operation_type, fields
        )
    return changes


def _members_changes(
    model: VersionedModel, links: Sequence[Record]
) -> dict[int, tuple[Record, FieldChange]]:
    """The members change (speakers added and removed) of each transaction
    that changed them, with one of its link rows for the transaction's
    columns; transactions whose changes cancel out are left out."""
    assert model.members is not None
    closed_by = {(row.member_id, row.end_transaction_id): row for row in links}
    grouped: dict[int, list[Record]] = {}
    for row in links:
        grouped.setdefault(row.transaction_id, []).append(row)
    changes: dict[int, tuple[Record, FieldChange]] = {}
    for transaction_id, rows in grouped.items():
        memberships = []
        for row in rows:
            previous = closed_by.get((row.member_id, transaction_id))
            memberships.append(
                MemberLink(
                    member_id=row.member_id,
                    member_name=row.member_name,
                    operation_type=row.operation_type,
                    was_member=previous is not None and previous.operation_type != DELETE,
                )
            )
        change = members_change(model.members.field, memberships)
        if change is not None:
            changes[transaction_id] = (rows[0], change)
    return changes


def row_history(connection: sa.Connection, model: VersionedModel, row_id: int) -> list[Change]:
    """Every change of one row, oldest first (see :func:`read_row`).

    Versions follow their chain; members-only changes (speakers) are merged
    in by (issued_at, transaction id) between them. A members-only change is
    an update of the row, with the event of the row's current version.
    """
    read = read_row(connection, model, row_id, f"show the history of {model.name} {row_id}")
    chained = _version_changes(model, row_id, read.versions)
    if not read.links:
        return list(chained.values())
    versions = read.versions
    current_event = next((row.event_id for row in versions if row.end_transaction_id is None), None)
    extra: list[Change] = []
    for transaction_id, (head, members) in _members_changes(model, read.links).items():
        own = chained.get(transaction_id)
        if own is not None:
            chained[transaction_id] = _with_field(own, members)
        else:
            extra.append(make_change(model, row_id, current_event, head, UPDATE, [members]))
    extra.sort(key=lambda change: (change.issued_at, change.transaction_id))
    return _merge_by_time(list(chained.values()), extra)


def _with_field(change: Change, field: FieldChange) -> Change:
    """``change`` with ``field`` listed last."""
    return with_fields(change, (*change.fields, field))


def _merge_by_time(chained: list[Change], extra: list[Change]) -> list[Change]:
    """Interleave time-ordered ``extra`` into ``chained`` without reordering it."""
    merged: list[Change] = []
    position = 0
    for change in chained:
        while position < len(extra) and (
            extra[position].issued_at,
            extra[position].transaction_id,
        ) < (
            change.issued_at,
            change.transaction_id,
        ):
            merged.append(extra[position])
            position += 1
        merged.append(change)
    return merged + extra[position:]
