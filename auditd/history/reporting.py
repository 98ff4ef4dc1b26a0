"""Counts of changes over a time range, grouped in SQL.

A change is one row changed by one transaction, as in the history and the
feed: a session's own version and its speakers changes in the same
transaction count once. Days are counted in the report's time zone: SQL
groups by quarter hour (every zone offset in use is a multiple of 15
minutes) and Python folds the quarters into local days, which keeps the
statement the same on both backends.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from auditd.history.diff import Conditions, MembersDiff, VersionDiff, change_keys
from auditd.history.records import Report, ReportDimension, ReportRow
from auditd.history.tables import TRANSACTION, Catalog, VersionedModel

QUARTER_HOUR = 900


def _in_range(t: sa.FromClause, since: datetime, until: datetime) -> list[sa.ColumnElement[bool]]:
    return [t.c.issued_at >= since, t.c.issued_at < until]


def _change_keys(
    dialect: str, models: tuple[VersionedModel, ...], since: datetime, until: datetime
) -> sa.Subquery:
    """(model, row_id, tx) of every change issued in [since, until)."""

    def versions(diff: VersionDiff) -> Conditions:
        return _in_range(diff.t, since, until)

    def members(diff: MembersDiff) -> Conditions:
        return _in_range(diff.t, since, until)

    return change_keys(dialect, models, versions=versions, members=members)


def _quarter(dialect: str, issued_at: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """Seconds since the epoch // 900, in SQL."""
    if dialect == "postgresql":
        epoch = sa.extract("epoch", issued_at)
        return sa.cast(sa.func.floor(epoch / QUARTER_HOUR), sa.BigInteger)
    # SQLite stores UTC text that strftime reads directly; both are integers,
    # so / is integer division there.
    seconds = sa.cast(sa.func.strftime("%s", issued_at), sa.Integer)
    return sa.type_coerce(seconds / sa.literal(QUARTER_HOUR), sa.Integer)


def _grouped(
    connection: sa.Connection, keys: sa.Subquery, by: ReportDimension, zone: ZoneInfo
) -> Counter[str | None]:
    t = TRANSACTION.alias("t")
    source = keys.join(t, t.c.id == keys.c.tx)
    if by == "day":
        group = _quarter(connection.dialect.name, t.c.issued_at)
    elif by == "actor":
        group = t.c.actor
    else:
        group = keys.c.model
    query = sa.select(group.label("key"), sa.func.count().label("n")).select_from(source)
    counts: Counter[str | None] = Counter()
    for key, n in connection.execute(query.group_by(group)):
        if by == "day":
            moment = datetime.fromtimestamp(int(key) * QUARTER_HOUR, UTC).astimezone(zone)
            counts[moment.date().isoformat()] += n
        else:
            counts[None if key is None else str(key)] += n
    return counts


def _by_field(
    connection: sa.Connection, models: tuple[VersionedModel, ...], since: datetime, until: datetime
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for model in models:
        diff = VersionDiff.of(model, connection.dialect.name)
        sums = [
            sa.func.coalesce(sa.func.sum(sa.case((diff.changed(name), 1), else_=0)), 0).label(name)
            for name in model.fields
        ]
        query = sa.select(*sums).select_from(diff.joined()).where(*_in_range(diff.t, since, until))
        row = connection.execute(query).one()
        counts.update({f"{model.name}.{name}": int(row._mapping[name]) for name in model.fields})
        if model.members is not None:
            members = MembersDiff.of(model)
            pairs = (
                sa.select(members.parent_id, members.s.c.transaction_id)
                .select_from(members.joined(with_prev=False))
                .where(*_in_range(members.t, since, until))
                .distinct()
                .subquery()
            )
            n = connection.execute(sa.select(sa.func.count()).select_from(pairs)).scalar_one()
            counts[f"{model.name}.{model.members.field}"] += int(n)
    return +counts  # drop fields that never changed


def report_counts(
    connection: sa.Connection,
    catalog: Catalog,
    *,
    since: datetime,
    until: datetime,
    by: ReportDimension,
    zone: ZoneInfo,
) -> Report:
    """Count the changes issued in [since, until), grouped by ``by``.

    Two statements for ``day``, ``actor`` and ``model`` (groups, total); one
    per model plus the total for ``field``.
    """
    chosen = tuple(catalog.models.values())
    keys = _change_keys(connection.dialect.name, chosen, since, until)
    total = connection.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one()
    counts: Counter[str | None] = Counter()
    if by == "field":
        counts.update(_by_field(connection, chosen, since, until))
    else:
        counts = _grouped(connection, keys, by, zone)
    # Days in calendar order; other groups largest first, the unknown actor last on ties.
    if by == "day":
        ordered = sorted(counts.items(), key=lambda item: item[0] or "")
    else:
        ordered = sorted(
            counts.items(), key=lambda item: (-item[1], item[0] is None, item[0] or "")
        )
    return Report(
        by=by,
        since=since,
        until=until,
        zone=zone.key,
        rows=tuple(ReportRow(key=key, changes=n) for key, n in ordered),
        total=int(total),
    )
