"""Rows as they were at a moment, or right after a transaction.

The version of a row in effect at time T is the one issued at or before T
whose successor (if any) was issued after T. Times compare as the pair
(``issued_at``, ``transaction_id``), so two transactions issued in the same
microsecond (or millisecond, on SQLite) still have an order. "Right after
transaction X" is the version X wrote, or, when X wrote none for the row
(a speakers-only change of a session), the version in effect at X's time.
Each statement is built once and reused with bound parameters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditd.history.diff import AnyRow, member_name, transaction_columns
from auditd.history.records import SpeakerRef
from auditd.history.tables import TRANSACTION, VersionedModel
from auditd.timeparse import MAX_ID
from auditd.timestamps import UTCDateTime

# Parameters of the "in effect at" statements: the moment, a transaction id
# bound for ties at that moment, and the transaction whose own version wins.
_AT = sa.bindparam("at", type_=UTCDateTime())
_BOUND = sa.bindparam("bound", type_=sa.BigInteger())
_TX = sa.bindparam("tx", type_=sa.BigInteger())


def _valid_at(
    version: sa.FromClause, t: sa.FromClause, end: sa.FromClause
) -> sa.ColumnElement[bool]:
    """The version was issued at or before (at, bound) and its successor after
    it: it is the version in effect at that moment."""
    issued = sa.or_(t.c.issued_at < _AT, sa.and_(t.c.issued_at == _AT, t.c.id <= _BOUND))
    superseded = sa.or_(
        version.c.end_transaction_id.is_(None),
        end.c.issued_at > _AT,
        sa.and_(end.c.issued_at == _AT, end.c.id > _BOUND),
    )
    return sa.and_(issued, superseded)


@dataclass(frozen=True)
class _InEffect:
    source: sa.FromClause
    t: sa.FromClause
    condition: sa.ColumnElement[bool]
    order: list[sa.ColumnElement[Any]]


def _in_effect(version: sa.FromClause, by_transaction: bool) -> _InEffect:
    """FROM clause, condition and ordering for "the version in effect";
    ``by_transaction`` lets the transaction's own version win."""
    t, end = TRANSACTION.alias("t"), TRANSACTION.alias("end_t")
    source = version.join(t, t.c.id == version.c.transaction_id).outerjoin(
        end, end.c.id == version.c.end_transaction_id
    )
    condition = _valid_at(version, t, end)
    order: list[sa.ColumnElement[Any]] = [t.c.issued_at.desc(), t.c.id.desc()]
    if by_transaction:
        condition = sa.or_(version.c.transaction_id == _TX, condition)
        order.insert(0, sa.case((version.c.transaction_id == _TX, 0), else_=1))
    return _InEffect(source=source, t=t, condition=condition, order=order)


@functools.cache
def _version_at_statement(model: VersionedModel, by_transaction: bool) -> sa.Select[Any]:
    v = model.version.alias("v")
    effect = _in_effect(v, by_transaction)
    return (
        sa.select(
            *(v.c[f] for f in model.fields),
            v.c.transaction_id,
            v.c.operation_type,
            *transaction_columns(effect.t),
        )
        .select_from(effect.source)
        .where(v.c[model.key] == sa.bindparam("row_id"), effect.condition)
        .order_by(*effect.order)
        .limit(1)
    )


def _parameters(row_id: int, at: datetime, transaction_id: int | None) -> dict[str, Any]:
    bound = MAX_ID if transaction_id is None else transaction_id
    return {"row_id": row_id, "at": at, "bound": bound, "tx": transaction_id}


def version_at(
    connection: sa.Connection,
    model: VersionedModel,
    row_id: int,
    at: datetime,
    transaction_id: int | None = None,
) -> AnyRow | None:
    """The version of a row in effect at ``at`` (one statement).

    With ``transaction_id``, the state right after that transaction: its own
    version of the row if it wrote one, else the version in effect at its
    ``issued_at`` (``at`` must then be that time). Columns: the model's
    fields, ``transaction_id``, ``operation_type`` and ``t_*``.
    """
    query = _version_at_statement(model, transaction_id is not None)
    return connection.execute(query, _parameters(row_id, at, transaction_id)).first()


@functools.cache
def _members_at_statement(model: VersionedModel, by_transaction: bool) -> sa.Select[Any]:
    members = model.members
    assert members is not None
    s = members.version.alias("s")
    member = s.c[members.member_column]
    effect = _in_effect(s, by_transaction)
    rank = sa.func.row_number().over(partition_by=member, order_by=effect.order)
    ranked = (
        sa.select(
            member.label("member_id"),
            s.c.transaction_id,
            s.c.operation_type,
            *transaction_columns(effect.t),
            rank.label("rank"),
        )
        .select_from(effect.source)
        .where(s.c[members.parent_column] == sa.bindparam("row_id"), effect.condition)
        .subquery()
    )
    return (
        sa.select(
            ranked.c.member_id,
            ranked.c.transaction_id,
            ranked.c.operation_type,
            *(column for column in ranked.c if column.name.startswith("t_")),
            member_name(members, ranked.c.member_id).label("member_name"),
        )
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.member_id)
    )


@dataclass(frozen=True)
class MembersAt:
    """A row's members at a moment, and the latest change of its memberships
    by then (a version row with ``transaction_id`` and ``t_*`` columns; None
    when the row never had members)."""

    refs: tuple[SpeakerRef, ...]
    latest: AnyRow | None


def members_at(
    connection: sa.Connection,
    model: VersionedModel,
    row_id: int,
    at: datetime,
    transaction_id: int | None = None,
    deleted_by: int | None = None,
) -> MembersAt:
    """The row's members (a session's speakers) at ``at`` (or right after
    ``transaction_id``), by id.

    ``deleted_by`` names the transaction that deleted the row: its members
    are then the ones that deletion removed (the last set).
    """
    query = _members_at_statement(model, transaction_id is not None)
    rows = list(connection.execute(query, _parameters(row_id, at, transaction_id)))
    refs = tuple(
        SpeakerRef(id=row.member_id, name=row.member_name)
        for row in rows
        if row.operation_type != 2 or (deleted_by is not None and row.transaction_id == deleted_by)
    )
    latest = max(rows, key=lambda row: (row.t_issued_at, row.transaction_id), default=None)
    return MembersAt(refs=refs, latest=latest)


def row_exists(connection: sa.Connection, model: VersionedModel, row_id: int) -> bool:
    """Whether the live table has the row now."""
    table = model.table
    query = sa.select(sa.literal(1)).select_from(table).where(table.c[model.key] == row_id)
    return connection.execute(query).first() is not None


def first_issued_at(
    connection: sa.Connection, model: VersionedModel, row_id: int
) -> datetime | None:
    """When the row's oldest recorded version was written (None: no history)."""
    v, t = model.version.alias("v"), TRANSACTION.alias("t")
    query = (
        sa.select(sa.func.min(t.c.issued_at))
        .select_from(v.join(t, t.c.id == v.c.transaction_id))
        .where(v.c[model.key] == row_id)
    )
    value: datetime | None = connection.execute(query).scalar()
    return value
