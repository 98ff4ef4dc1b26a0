"""The change feed: every change in transaction-id order, paged by a cursor.

A poller passes the last transaction id it has seen and must never miss or
repeat a change. Transaction ids are not commit order on PostgreSQL (they are
xids, taken at a transaction's first write), so "everything after id N"
would skip a transaction with a small id that commits after a larger one was
served. The feed therefore serves only transactions below a *horizon* under
which every transaction has finished:

* PostgreSQL: ``pg_snapshot_xmin(pg_current_snapshot())`` — the oldest xid
  still running; every smaller xid has committed or aborted, and every
  transaction that has not yet written will get a larger one. A late
  committer holds the horizon back (it is delivered late, never lost); a
  long-open writing transaction anywhere on the server delays the feed.
* SQLite: one writer at a time and ids in commit order, so the horizon is
  the largest committed id plus one, read in the same snapshot as the page.

Since nothing at or above the horizon is ever served and nothing below it can
appear later, the id of the last transaction served is an exact cursor. A
page holds whole transactions (its limit counts transactions), so the
cursor never splits one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditd.history.diff import Conditions, MembersDiff, VersionDiff, change_keys, merge_changes
from auditd.history.records import Change, ChangePage, with_fields
from auditd.history.tables import VersionedModel
from auditd.stamps.horizon import read_horizon


@dataclass(frozen=True, kw_only=True)
class FeedFilter:
    """Which changes the feed serves; every criterion must hold."""

    models: Sequence[VersionedModel]
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    field: str | None = None
    event_id: int | None = None

    def _transaction_conditions(self, t: sa.FromClause) -> list[sa.ColumnElement[bool]]:
        conditions = []
        if self.since is not None:
            conditions.append(t.c.issued_at >= self.since)
        if self.until is not None:
            conditions.append(t.c.issued_at < self.until)
        if self.actor is not None:
            conditions.append(t.c.actor == self.actor)
        return conditions

    def wants_versions(self, model: VersionedModel) -> bool:
        return self.field is None or self.field in model.fields

    def wants_members(self, model: VersionedModel) -> bool:
        return model.members is not None and self.field in (None, model.members.field)

    def version_conditions(
        self, diff: VersionDiff, low: int | None, high: int
    ) -> list[sa.ColumnElement[bool]]:
        v, t = diff.v, diff.t
        conditions = [v.c.transaction_id <= high, t.c.id <= high]
        if low is not None:
            # Both sides of the join: PostgreSQL does not infer one from the other.
            conditions += [v.c.transaction_id > low, t.c.id > low]
        if self.field is not None:
            conditions.append(diff.changed(self.field))
        if self.event_id is not None:
            conditions.append(diff.event_id() == self.event_id)
        return conditions + self._transaction_conditions(t)

    def member_conditions(
        self, diff: MembersDiff, low: int | None, high: int
    ) -> list[sa.ColumnElement[bool]]:
        s, t = diff.s, diff.t
        conditions = [s.c.transaction_id <= high, t.c.id <= high]
        if low is not None:
            conditions += [s.c.transaction_id > low, t.c.id > low]
        if self.event_id is not None:
            conditions.append(diff.event_id() == self.event_id)
        return conditions + self._transaction_conditions(t)


def _transactions(dialect: str, feed: FeedFilter, low: int | None, high: int) -> sa.Select[Any]:
    """The id of every transaction in (low, high] with a matching change, in order."""

    def versions(diff: VersionDiff) -> Conditions | None:
        if not feed.wants_versions(diff.model):
            return None
        return feed.version_conditions(diff, low, high)

    def members(diff: MembersDiff) -> Conditions | None:
        if not feed.wants_members(diff.model):
            return None
        return feed.member_conditions(diff, low, high)

    keys = change_keys(
        dialect, feed.models, versions=versions, members=members, with_prev=feed.field is not None
    )
    return sa.select(keys.c.tx).distinct().order_by(keys.c.tx)


def _details(
    connection: sa.Connection, feed: FeedFilter, low: int | None, high: int
) -> list[Change]:
    """Every matching change in (low, high], one statement per model (and members)."""
    changes: list[Change] = []
    for model in feed.models:
        version_rows: list[sa.Row[Any]] = []
        member_rows: list[sa.Row[Any]] = []
        if feed.wants_versions(model):
            diff = VersionDiff.of(model, connection.dialect.name)
            query = diff.select().where(*feed.version_conditions(diff, low, high))
            version_rows = list(connection.execute(query))
        if feed.wants_members(model):
            members = MembersDiff.of(model)
            query = members.select().where(*feed.member_conditions(members, low, high))
            member_rows = list(connection.execute(query))
        merged = merge_changes(model, version_rows, member_rows).values()
        changes += merged if feed.field is None else only_field(merged, feed.field)
    return sorted(changes, key=lambda c: (c.transaction_id, c.model, c.row_id))


def only_field(changes: Iterable[Change], field: str) -> list[Change]:
    """The changes that touch ``field``, each narrowed to that field."""
    kept = []
    for change in changes:
        match = change.field(field)
        if match is not None:
            kept.append(with_fields(change, (match,)))
    return kept


def change_feed(
    connection: sa.Connection, feed: FeedFilter, after: int | None, limit: int
) -> ChangePage:
    """One page of the changes of at most ``limit`` transactions after
    transaction ``after`` (None or 0: from the beginning).

    Statements: the horizon, the page's transaction ids, then one per model
    (and one for its members), whatever the page size.
    """
    top = read_horizon(connection) - 1
    if after is not None and after >= top:
        return ChangePage(
            changes=(), last_transaction_id=None, next_after_transaction=after, has_more=False
        )
    ids = _transactions(connection.dialect.name, feed, after, top).limit(limit + 1)
    transaction_ids = [row.tx for row in connection.execute(ids)]
    has_more = len(transaction_ids) > limit
    high = transaction_ids[limit - 1] if has_more else top
    changes = _details(connection, feed, after, high) if transaction_ids else []
    last = changes[-1].transaction_id if changes else None
    return ChangePage(
        changes=tuple(changes),
        last_transaction_id=last,
        next_after_transaction=high,
        has_more=has_more,
    )
