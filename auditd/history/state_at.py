"""Rows as they were at a moment, or right after a transaction.

The version of a row in effect at time T is the one issued at or before T
whose successor (if any) was issued after T. Times compare as the pair
(``issued_at``, ``transaction_id``), so two transactions issued in the same
microsecond (or millisecond, on SQLite) still have an order. "Right after
transaction X" is the version X wrote, or, when X wrote none for the row
(a speakers-only change of a session), the version in effect at X's time.
The rule is applied in memory to the row's versions and links as
:func:`auditd.history.row_history.read_row` reads and checks them: a row
has few, and its successors' times are among them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from auditd.history.diff import DELETE
from auditd.history.records import SpeakerRef
from auditd.history.row_history import Record, RowVersions
from auditd.history.tables import VersionedModel
from auditd.timeparse import MAX_ID


@dataclass(frozen=True)
class _Moment:
    """(at, bound): the point in time; ``transaction_id`` wins outright."""

    at: datetime
    bound: int
    transaction_id: int | None
    issued_at: dict[int, datetime]

    def in_effect(self, row: Record) -> bool:
        if row.transaction_id == self.transaction_id:
            return True
        point = (self.at, self.bound)
        if (row.t_issued_at, row.transaction_id) > point:
            return False
        end = row.end_transaction_id
        return end is None or (self.issued_at[end], end) > point

    def rank(self, row: Record) -> tuple[bool, datetime, int]:
        return (row.transaction_id == self.transaction_id, row.t_issued_at, row.transaction_id)

    def latest(self, rows: Iterable[Record]) -> Record | None:
        """The row in effect among one key's versions (None: none was yet)."""
        return max((row for row in rows if self.in_effect(row)), key=self.rank, default=None)


def _moment(row: RowVersions, at: datetime, transaction_id: int | None) -> _Moment:
    bound = MAX_ID if transaction_id is None else transaction_id
    return _Moment(at=at, bound=bound, transaction_id=transaction_id, issued_at=row.issued_at)


def version_at(row: RowVersions, at: datetime, transaction_id: int | None = None) -> Record | None:
    """The version of the row in effect at ``at``.

    With ``transaction_id``, the state right after that transaction: its own
    version of the row if it wrote one, else the version in effect at its
    ``issued_at`` (``at`` must then be that time). The row has
    ``transaction_id``, ``operation_type`` and ``t_*``; its values are
    ``row.values(version)``.
    """
    return _moment(row, at, transaction_id).latest(row.versions)


@dataclass(frozen=True)
class MembersAt:
    """A row's members at a moment, and the latest change of its memberships
    by then (a link row with ``transaction_id`` and ``t_*`` columns; None
    when the row never had members)."""

    refs: tuple[SpeakerRef, ...]
    latest: Record | None


def members_at(
    row: RowVersions,
    at: datetime,
    transaction_id: int | None = None,
    deleted_by: int | None = None,
) -> MembersAt:
    """The row's members (a session's speakers) at ``at`` (or right after
    ``transaction_id``), by id.

    ``deleted_by`` names the transaction that deleted the row: its members
    are then the ones that deletion removed (the last set).
    """
    moment = _moment(row, at, transaction_id)
    by_member: dict[int, list[Record]] = {}
    for link in row.links:
        by_member.setdefault(link.member_id, []).append(link)
    effective = [moment.latest(links) for _, links in sorted(by_member.items())]
    rows = [link for link in effective if link is not None]
    refs = tuple(
        SpeakerRef(id=link.member_id, name=link.member_name)
        for link in rows
        if link.operation_type != DELETE
        or (deleted_by is not None and link.transaction_id == deleted_by)
    )
    latest = max(rows, key=lambda link: (link.t_issued_at, link.transaction_id), default=None)
    return MembersAt(refs=refs, latest=latest)


def first_issued_at(row: RowVersions) -> datetime | None:
    """When the row's oldest recorded version was written (None: no history)."""
    return min((version.t_issued_at for version in row.versions), default=None)


def row_exists(connection: sa.Connection, model: VersionedModel, row_id: int) -> bool:
    """Whether the live table has the row now."""
    table = model.table
    query = sa.select(sa.literal(1)).select_from(table).where(table.c[model.key] == row_id)
    return connection.execute(query).first() is not None
