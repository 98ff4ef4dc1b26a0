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

from auditd.catalog import MODELS, TRANSACTION, VersionedModel
from auditd.history import SpeakersDiff, VersionDiff
from auditd.records import SPEAKERS_FIELD, Report, ReportDimension, ReportRow

QUARTER_HOUR = 900
NO_ACTOR = "(none)"


def _in_range(t: sa.FromClause, since: datetime, until: datetime) -> list[sa.ColumnElement[bool]]:
    return [t.c.issued_at >= since, t.c.issued_at < until]


def _change_keys(
    dialect: str, models: tuple[VersionedModel, ...], since: datetime, until: datetime
) -> sa.Subquery:
    """(model, row_id, tx) of every change issued in [since, until)."""
    selects: list[sa.Select[Any]] = []
    for model in models:
        diff = VersionDiff.of(model, dialect)
        selects.append(
            sa.select(
                sa.literal(model.name).label("model"),
                diff.v.c.id.label("row_id"),
                diff.v.c.transaction_id.label("tx"),
            )
            .select_from(diff.joined(with_prev=False))
            .where(*_in_range(diff.t, since, until))
        )
        if model.has_speakers:
            speakers = SpeakersDiff.create()
            selects.append(
                sa.select(
                    sa.literal(model.name).label("model"),
                    speakers.s.c.session_id.label("row_id"),
                    speakers.s.c.transaction_id.label("tx"),
                )
                .select_from(speakers.joined(with_prev=False))
                .where(*_in_range(speakers.t, since, until))
            )
    return sa.union(*selects).subquery("changes")


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
) -> Counter[str]:
    t = TRANSACTION.alias("t")
    source = keys.join(t, t.c.id == keys.c.tx)
    if by == "day":
        group = _quarter(connection.dialect.name, t.c.issued_at)
    elif by == "actor":
        group = t.c.actor
    else:
        group = keys.c.model
    query = sa.select(group.label("key"), sa.func.count().label("n")).select_from(source)
    counts: Counter[str] = Counter()
    for key, n in connection.execute(query.group_by(group)):
        if by == "day":
            moment = datetime.fromtimestamp(int(key) * QUARTER_HOUR, UTC).astimezone(zone)
            counts[moment.date().isoformat()] += n
        else:
            counts[NO_ACTOR if key is None else str(key)] += n
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
        if model.has_speakers:
            speakers = SpeakersDiff.create()
            pairs = (
                sa.select(speakers.s.c.session_id, speakers.s.c.transaction_id)
                .select_from(speakers.joined(with_prev=False))
                .where(*_in_range(speakers.t, since, until))
                .distinct()
                .subquery()
            )
            n = connection.execute(sa.select(sa.func.count()).select_from(pairs)).scalar_one()
            counts[f"{model.name}.{SPEAKERS_FIELD}"] += int(n)
    return +counts  # drop fields that never changed


def report_counts(
    connection: sa.Connection,
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
    chosen = tuple(MODELS.values())
    keys = _change_keys(connection.dialect.name, chosen, since, until)
    total = connection.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one()
    if by == "field":
        counts = _by_field(connection, chosen, since, until)
    else:
        counts = _grouped(connection, keys, by, zone)
    if by == "day":
        ordered = sorted(counts.items())
    else:
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Report(
        by=by,
        since=since,
        until=until,
        zone=zone.key,
        rows=tuple(ReportRow(key=key, changes=n) for key, n in ordered),
        total=int(total),
    )
