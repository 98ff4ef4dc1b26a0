"""The history API: typed queries over the audit trail, for people and scripts.

Every ``audittrail`` history command is a thin call into one of these
functions, and reporting scripts import them directly::

    from auditd import api, db
    from auditd.config import DatabaseSettings

    engine = db.create_engine(DatabaseSettings(url="postgresql+psycopg2://..."))
    for change in api.who_changed(engine, "session", 42, "starts_at"):
        start = change.field("starts_at")
        print(change.issued_at, change.actor, start.old, "->", start.new)

Functions take an :class:`~sqlalchemy.Engine` (or a ``Connection``, to read
inside a transaction of your own) and return frozen dataclasses from
:mod:`auditd.history.records` with aware UTC datetimes. Models are ``event``,
``session``, ``speaker`` and ``track``; fields are the model's versioned
columns, plus ``speakers`` for a session. Mistakes raise
:class:`~auditd.errors.UsageError` (bad model, field, actor, id, time range)
or :class:`~auditd.errors.NotFoundError` (no such row or transaction).

Each call runs a constant number of SQL statements, however long the
history: versions are paired with their predecessors in one join, never
walked one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from auditd.errors import NotFoundError, UsageError
from auditd.history import feed, reporting
from auditd.history.arguments import check_cursor, check_flag, check_limit, check_text
from auditd.history.records import (
    REPORT_DIMENSIONS,
    SPEAKERS_FIELD,
    Change,
    ChangePage,
    FieldChange,
    Operation,
    Report,
    ReportDimension,
    ReportRow,
    RevertResult,
    RowState,
    SpeakerRef,
)
from auditd.history.revert import revert_row
from auditd.history.row_history import Record, read_row, row_history
from auditd.history.state_at import first_issued_at, members_at, row_exists, version_at
from auditd.history.tables import (
    MODEL_NAMES,
    TRANSACTION,
    VersionedModel,
    catalog,
    check_model_name,
)
from auditd.timeparse import check_positive_id, check_range, parse_zone, require_aware
from auditd.timestamps import utcnow

__all__ = [
    "MODELS",
    "REPORT_DIMENSIONS",
    "SPEAKERS_FIELD",
    "Change",
    "ChangePage",
    "FieldChange",
    "Operation",
    "Report",
    "ReportDimension",
    "ReportRow",
    "RevertResult",
    "RowState",
    "SpeakerRef",
    "changes",
    "history",
    "known_actors",
    "model_fields",
    "reading",
    "report",
    "revert",
    "row_at",
    "who_changed",
]

MODELS: tuple[str, ...] = MODEL_NAMES
MAX_PAGE = 100_000
KNOWN_ACTORS_SHOWN = 20

Bind = sa.Engine | sa.Connection


@contextmanager
def reading(bind: Bind) -> Iterator[sa.Connection]:
    """One connection and one snapshot (on PostgreSQL, a read-only REPEATABLE
    READ transaction) for several calls, so that a transaction committing in
    between cannot show up in some of them only. A ``Connection`` is used as
    it is. Every call reads through this, so each call is consistent alone."""
    if isinstance(bind, sa.Connection):
        yield bind
        return
    if not isinstance(bind, sa.Engine):
        raise UsageError(f"expected an Engine or a Connection, got {type(bind).__name__}")
    with bind.connect() as connection:
        if connection.dialect.name == "postgresql":
            # psycopg2 puts these in the BEGIN it sends with the first
            # statement: no round trip of their own (SET TRANSACTION costs one).
            connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        yield connection


def model_fields(bind: Bind, model: str) -> tuple[str, ...]:
    """The fields of ``model`` a change can list in this database (``speakers``
    last for a session). Raises UsageError for an unknown model."""
    check_model_name(model)
    with reading(bind) as connection:
        return catalog(connection).resolve_model(model).all_fields


def _no_history(connection: sa.Connection, model: VersionedModel, row_id: int) -> None:
    if not row_exists(connection, model, row_id):
        raise NotFoundError(
            f"{model.name} {row_id} does not exist and has no history",
            "check the id; the change feed lists the rows that changed",
        )


def history(
    bind: Bind, model: str, row_id: int, *, newest_first: bool = True
) -> tuple[Change, ...]:
    """Every change of one row, newest first (or oldest first), with old → new
    values of each changed field and, for a session, speakers added/removed.

    Returns an empty tuple for a row that exists but has no recorded history.
    Raises UsageError for an unknown model or a bad id, NotFoundError when the
    row neither exists nor has history.
    """
    check_model_name(model)
    check_positive_id(row_id)
    check_flag(newest_first, "newest_first")
    with reading(bind) as connection:
        changes = _changes_of(connection, catalog(connection).resolve_model(model), row_id)
    return tuple(reversed(changes)) if newest_first else tuple(changes)


def _changes_of(connection: sa.Connection, model: VersionedModel, row_id: int) -> list[Change]:
    """The row's changes, oldest first; NotFoundError when it has none and does not exist."""
    changes = row_history(connection, model, row_id)
    if not changes:
        _no_history(connection, model, row_id)
    return changes


def who_changed(
    bind: Bind, model: str, row_id: int, field: str, *, newest_first: bool = True
) -> tuple[Change, ...]:
    """Each change of one field of one row: who, when, why, old and new value.

    Each returned :class:`Change` lists only that field. Same errors as
    :func:`history`, plus UsageError for an unknown field.
    """
    check_model_name(model)
    check_positive_id(row_id)
    check_text(field, "field")
    check_flag(newest_first, "newest_first")
    with reading(bind) as connection:
        known = catalog(connection)
        versioned = known.resolve_model(model)
        known.resolve_field(versioned, field)
        changes = feed.only_field(_changes_of(connection, versioned, row_id), field)
    return tuple(reversed(changes)) if newest_first else tuple(changes)


def row_at(bind: Bind, model: str, row_id: int, *, at: datetime | None = None) -> RowState:
    """The row as it was at ``at`` (default: now), from the version in effect then.

    After a deletion the state is ``deleted`` with the row's last values.
    Raises NotFoundError when the row did not exist yet at ``at`` (or never),
    UsageError for a naive ``at``, an unknown model or a bad id.
    """
    check_model_name(model)
    check_positive_id(row_id)
    moment = utcnow() if at is None else require_aware(at, "at")
    with reading(bind) as connection:
        versioned = catalog(connection).resolve_model(model)
        row = read_row(connection, versioned, row_id, f"show {versioned.name} {row_id} at a time")
        version = version_at(row, moment)
        if version is None:
            first = first_issued_at(row)
            if first is None:
                _no_history(connection, versioned, row_id)
                raise NotFoundError(f"{versioned.name} {row_id} has no recorded history")
            raise NotFoundError(
                f"{versioned.name} {row_id} did not exist yet at {moment.isoformat()}",
                f"its history starts at {first.isoformat()}",
            )
        deleted = version.operation_type == 2
        speakers = None
        latest = version
        if versioned.members is not None:
            deleted_by = version.transaction_id if deleted else None
            members = members_at(row, moment, deleted_by=deleted_by)
            speakers = members.refs
            if members.latest is not None and _later(members.latest, version):
                latest = members.latest  # a speakers-only change after the last version
    return RowState(
        model=versioned.name,
        row_id=row_id,
        at=moment,
        deleted=deleted,
        values=row.values(version),
        speakers=speakers,
        transaction_id=latest.transaction_id,
        issued_at=latest.t_issued_at,
        actor=latest.t_actor,
        origin=latest.t_origin,
        reason=latest.t_reason,
        db_role=latest.t_db_role,
    )


def _later(first: Record, second: Record) -> bool:
    """Whether ``first`` was issued after ``second`` (ties broken by transaction id)."""
    return (first.t_issued_at, first.transaction_id) > (second.t_issued_at, second.transaction_id)


def known_actors(bind: Bind, limit: int = KNOWN_ACTORS_SHOWN) -> tuple[str, ...]:
    """Up to ``limit`` distinct actors recorded on transactions, sorted."""
    check_limit(limit, MAX_PAGE)
    column = TRANSACTION.c.actor
    query = sa.select(column).where(column.is_not(None)).distinct().order_by(column).limit(limit)
    with reading(bind) as connection:
        return tuple(connection.execute(query).scalars())


def _check_actor(connection: sa.Connection, actor: str) -> None:
    column = TRANSACTION.c.actor
    if connection.execute(sa.select(sa.literal(1)).where(column == actor).limit(1)).first():
        return
    actors = known_actors(connection, KNOWN_ACTORS_SHOWN + 1)
    listed = ", ".join(actors[:KNOWN_ACTORS_SHOWN]) or "none recorded yet"
    more = ", ..." if len(actors) > KNOWN_ACTORS_SHOWN else ""
    raise UsageError(f"unknown actor {actor!r}", f"known actors: {listed}{more}")


def changes(
    bind: Bind,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    actor: str | None = None,
    field: str | None = None,
    event_id: int | None = None,
    after_transaction: int | None = None,
    limit: int = 1000,
) -> ChangePage:
    """One page of the change feed, oldest first (transaction id order).

    Filters: transactions issued in [``since``, ``until``), one ``model``,
    one ``actor``, changes of one ``field``, rows of one ``event_id``. A page
    holds at most ``limit`` whole transactions (with all their matching
    changes). To poll, pass the previous page's ``next_after_transaction``
    (or the last transaction id you saw) as ``after_transaction``; None or 0
    starts from the beginning. Every change is delivered exactly once,
    including transactions that took a small id and committed late (on
    PostgreSQL they are held back until every older transaction has finished).

    Raises UsageError for an unknown model, field or actor, a bad id, cursor
    or limit, naive times or an empty range.
    """
    if model is not None:
        check_model_name(model)
    since = None if since is None else require_aware(since, "since")
    until = None if until is None else require_aware(until, "until")
    check_range(since, until)
    if event_id is not None:
        check_positive_id(event_id, what="event id")
    if after_transaction is not None:
        check_cursor(after_transaction)
    if actor is not None:
        check_text(actor, "actor")
    if field is not None:
        check_text(field, "field")
    check_limit(limit, MAX_PAGE)
    with reading(bind) as connection:
        known = catalog(connection)
        versioned = None if model is None else known.resolve_model(model)
        if field is not None:
            known.resolve_field(versioned, field)
        models = list(known.models.values()) if versioned is None else [versioned]
        request = feed.FeedFilter(
            models=models, since=since, until=until, actor=actor, field=field, event_id=event_id
        )
        if actor is not None:
            _check_actor(connection, actor)
        return feed.change_feed(connection, request, after_transaction, limit)


def revert(
    engine: sa.Engine,
    model: str,
    row_id: int,
    *,
    to_transaction: int,
    actor: str | None = None,
    reason: str | None = None,
    dry_run: bool = False,
) -> RevertResult:
    """Restore a row's versioned fields (and a session's speakers) to their
    state right after ``to_transaction``; a deleted row is re-created, and a
    transaction that deleted the row deletes it again.

    The revert is recorded like any change (origin ``revert``, ``actor``,
    ``reason``; default reason "revert to transaction N"). Nothing is written
    when the row already is in that state, or with ``dry_run`` (the result
    then shows what would change). Raises NotFoundError when the transaction
    did not change this row, UsageError for a bad model/id or when the
    restored row would refer to rows that no longer exist.
    """
    check_model_name(model)
    check_positive_id(row_id)
    check_positive_id(to_transaction, what="transaction id")
    check_flag(dry_run, "dry_run")
    if not isinstance(engine, sa.Engine):
        raise UsageError(f"revert needs an Engine, got {type(engine).__name__}")
    with reading(engine) as connection:
        versioned = catalog(connection).resolve_model(model)
    return revert_row(
        engine,
        versioned,
        row_id,
        to_transaction=to_transaction,
        actor=actor,
        reason=reason,
        dry_run=dry_run,
    )


def report(
    bind: Bind,
    *,
    since: datetime,
    until: datetime,
    by: ReportDimension = "day",
    tz: str | ZoneInfo = "UTC",
) -> Report:
    """Counts of changes issued in [``since``, ``until``), by ``day`` (in
    zone ``tz``), ``actor``, ``model`` or ``field``.

    Raises UsageError for naive times, an empty range, an unknown dimension or zone.
    """
    if by not in REPORT_DIMENSIONS:
        raise UsageError(f"unknown grouping {by!r}", f"one of: {', '.join(REPORT_DIMENSIONS)}")
    since = require_aware(since, "since")
    until = require_aware(until, "until")
    check_range(since, until)
    if not isinstance(tz, str | ZoneInfo):
        raise UsageError(f"tz must be a zone name or a ZoneInfo, got {type(tz).__name__}")
    zone = tz if isinstance(tz, ZoneInfo) else parse_zone(tz)
    with reading(bind) as connection:
        return reporting.report_counts(
            connection, catalog(connection), since=since, until=until, by=by, zone=zone
        )
