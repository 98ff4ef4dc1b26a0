"""One row's history: its versions and its members' versions, paired in memory.

A row has few versions, so its history is read with the two plain
statements a person would write (the row's versions and its speaker links,
each with its transaction) and every version is paired with its
predecessor here, by the validity linkage (the predecessor of ``v`` is the
version whose ``end_transaction_id`` is ``v.transaction_id``). Joining the
version table to itself in SQL, as the change feed does for many rows
(:mod:`auditd.history.diff`), would send every old value a second time and
make each call plan a wider statement. The chains are checked first: a row
whose linkage is broken is refused rather than shown with wrong old → new
values.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
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
from auditd.history.records import Change, FieldChange
from auditd.history.tables import VersionedModel
from auditd.ledger.linkage import VersionLink, chain_problems

AnyRow = sa.Row[Any]

# A version row: transaction_id, end_transaction_id, operation_type,
# event_id and the t_* columns, then the model's fields from here on.
_FIELDS_START = 4 + len(TRANSACTION_COLUMNS)


@functools.cache
def _statements(
    model: VersionedModel, dialect: str
) -> tuple[sa.Select[Any], sa.Select[Any] | None]:
    diff = VersionDiff.of(model, dialect)
    v = diff.v
    row_id: sa.BindParameter[int] = sa.bindparam("row_id")
    versions = (
        sa.select(
            v.c.transaction_id,
            v.c.end_transaction_id,
            v.c.operation_type,
            diff.event_id().label("event_id"),
            *transaction_columns(diff.t),
            *(v.c[f].label(f"n_{f}") for f in model.fields),
        )
        .select_from(diff.joined(with_prev=False))
        .where(diff.row_key == row_id)
    )
    if model.members is None:
        return versions, None
    association = MembersDiff.of(model)
    s = association.s
    members = (
        sa.select(
            association.member_id.label("member_id"),
            s.c.transaction_id,
            s.c.end_transaction_id,
            s.c.operation_type,
            member_name(model.members, association.member_id).label("member_name"),
            *transaction_columns(association.t),
        )
        .select_from(association.joined(with_prev=False))
        .where(association.parent_id == row_id)
    )
    return versions, members


def _require_intact_chains(
    model: VersionedModel, row_id: int, versions: Sequence[AnyRow], links: Sequence[AnyRow]
) -> None:
    """IntegrityError when the row's chain of versions, or one of its members'
    chains, is broken: the old → new values would be computed from it."""
    problems = chain_problems(
        model.table.name,
        (
            VersionLink(
                key=(row_id,),
                transaction_id=row.transaction_id,
                end_transaction_id=row.end_transaction_id,
                operation_type=row.operation_type,
            )
            for row in versions
        ),
    )
    if model.members is not None:
        problems += chain_problems(
            model.members.table.name,
            (
                VersionLink(
                    key=(row_id, row.member_id),
                    transaction_id=row.transaction_id,
                    end_transaction_id=row.end_transaction_id,
                    operation_type=row.operation_type,
                )
                for row in links
            ),
        )
    if problems:
        raise IntegrityError(
            f"refusing to show the history of {model.name} {row_id}: {problems[0]}",
            INTEGRITY_HINT,
        )


def _version_changes(
    model: VersionedModel, row_id: int, versions: Sequence[AnyRow]
) -> dict[int, Change]:
    """Each version's change, by transaction id, in chain order (oldest first).

    Versions no chain reaches (only possible with a broken linkage, which
    is refused before) follow in (issued_at, id) order rather than being lost.
    """
    start = _FIELDS_START
    by_tx = {row.transaction_id: row for row in versions}
    closed_by = {row.end_transaction_id: row for row in versions}
    time_order = sorted(versions, key=lambda row: (row.t_issued_at, row.transaction_id))
    ordered: list[AnyRow] = []
    seen: set[int] = set()
    for first in time_order:
        if first.transaction_id in closed_by:
            continue  # not the start of a chain
        row: AnyRow | None = first
        while row is not None and row.transaction_id not in seen:
            seen.add(row.transaction_id)
            ordered.append(row)
            row = None if row.end_transaction_id is None else by_tx.get(row.end_transaction_id)
    ordered += [row for row in time_order if row.transaction_id not in seen]
    changes: dict[int, Change] = {}
    for row in ordered:
        previous = closed_by.get(row.transaction_id)
        old = None if previous is None else previous[start:]
        fields = changed_fields(model, row.operation_type, row[start:], old)
        changes[row.transaction_id] = make_change(
            model, row_id, row.event_id, row, row.operation_type, fields
        )
    return changes


def _members_changes(
    model: VersionedModel, links: Sequence[AnyRow]
) -> dict[int, tuple[AnyRow, FieldChange]]:
    """The members change (speakers added and removed) of each transaction
    that changed them, with one of its link rows for the transaction's
    columns; transactions whose changes cancel out are left out."""
    assert model.members is not None
    closed_by = {(row.member_id, row.end_transaction_id): row for row in links}
    grouped: dict[int, list[AnyRow]] = {}
    for row in links:
        grouped.setdefault(row.transaction_id, []).append(row)
    changes: dict[int, tuple[AnyRow, FieldChange]] = {}
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
    """Every change of one row, oldest first: one statement (two for a model
    with members, such as a session).

    Versions follow their chain; members-only changes (speakers) are merged
    in by (issued_at, transaction id) between them. A members-only change is
    an update of the row, with the event of the row's current version.
    """
    versions_query, members_query = _statements(model, connection.dialect.name)
    versions = connection.execute(versions_query, {"row_id": row_id}).all()
    links = (
        [] if members_query is None else connection.execute(members_query, {"row_id": row_id}).all()
    )
    _require_intact_chains(model, row_id, versions, links)
    chained = _version_changes(model, row_id, versions)
    if not links:
        return list(chained.values())
    current_event = next((row.event_id for row in versions if row.end_transaction_id is None), None)
    extra: list[Change] = []
    for transaction_id, (head, members) in _members_changes(model, links).items():
        own = chained.get(transaction_id)
        if own is not None:
            chained[transaction_id] = _with_field(own, members)
        else:
            extra.append(make_change(model, row_id, current_event, head, UPDATE, [members]))
    extra.sort(key=lambda change: (change.issued_at, change.transaction_id))
    return _merge_by_time(list(chained.values()), extra)


def _with_field(change: Change, field: FieldChange) -> Change:
    """``change`` with ``field`` listed last."""
    return dataclasses.replace(change, fields=(*change.fields, field))


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
