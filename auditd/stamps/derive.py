"""Derive ``last_modified_at`` from version history, in SQL.

The truth for a row is the ``issued_at`` of the latest transaction that
versioned the row itself or one of its associations (a speakers-only change
writes only ``speakers_sessions_version``). "Latest" is the largest
``issued_at``, which never moves backwards, whatever order transactions
committed in. Rows with no history at all derive NULL and are left alone:
there is nothing to derive them from (``adopt`` writes a baseline).

Everything here is a pure query builder or a read; repairs live in
:mod:`auditd.stamps.repair`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from auditd.errors import UsageError
from auditd.models.audit import TRANSACTION
from auditd.registry import Registry, load, qualify
from auditd.timestamps import UTCDateTime


@dataclass(frozen=True, kw_only=True)
class StampSource:
    """A version table whose rows count as changes of the stamped row;
    ``column`` holds the stamped row's key."""

    version_table: str
    schema: str | None
    column: str

    def table_clause(self) -> sa.TableClause:
        """The version table with the two columns derivation reads."""
        return sa.table(
            self.version_table,
            sa.column(self.column),
            sa.column("transaction_id"),
            schema=self.schema,
        )

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.version_table)


@dataclass(frozen=True, kw_only=True)
class DerivedStamp:
    """A timestamp column kept equal to its row's latest versioned change."""

    table: str
    schema: str | None
    key: str
    column: str
    sources: tuple[StampSource, ...]
    transaction_table: str  # quoted and qualified

    def table_clause(self) -> sa.TableClause:
        return sa.table(
            self.table,
            sa.column(self.key),
            sa.column(self.column, UTCDateTime()),
            schema=self.schema,
        )

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.table)


def derived_stamps(registry: Registry) -> tuple[DerivedStamp, ...]:
    """Every stamp the registry says to keep: each stamped table, derived from
    its own version table and from those of the associations that move it."""
    stamps = []
    for entry in registry.stamped():
        assert entry.stamp_column is not None
        if len(entry.key) != 1:
            continue  # a stamp is kept for rows addressed by one key column
        (key,) = entry.key
        sources = [
            StampSource(version_table=entry.version_table, schema=entry.audit_schema, column=key)
        ]
        sources += [
            StampSource(
                version_table=association.version_table,
                schema=association.audit_schema,
                column=parent.column,
            )
            for association in registry.entries
            for parent in association.parents
            if parent.parent_table == entry.table
        ]
        stamps.append(
            DerivedStamp(
                table=entry.table,
                schema=entry.table_schema,
                key=key,
                column=entry.stamp_column,
                sources=tuple(sources),
                transaction_table=entry.qualified_transaction_table,
            )
        )
    return tuple(stamps)


def load_stamps(engine: sa.Engine) -> tuple[DerivedStamp, ...]:
    """The stamps of the engine's database, from its registry (read now)."""
    with engine.connect() as connection:
        return derived_stamps(load(connection))


KeyRestriction = Callable[[sa.ColumnElement[int]], sa.ColumnElement[bool]]


@dataclass(frozen=True, kw_only=True)
class HistoryBound:
    """What sync knows of the history below its watermark: no transaction
    with an id below ``transaction_id`` was issued after ``issued_at``.

    A row whose versions from ``transaction_id`` on include one issued at or
    after ``issued_at`` derives its stamp from those versions alone: none of
    the older ones can hold the maximum, so they need not be read.
    """

    transaction_id: int
    issued_at: datetime


def derived_by_key(
    stamp: DerivedStamp,
    restrict: KeyRestriction,
    dialect: str,
    bound: HistoryBound | None = None,
) -> sa.Select[int, datetime | None] | sa.CompoundSelect[int, datetime | None]:
    """``(key, derived)`` for every key that has history and satisfies ``restrict``.

    ``restrict`` is applied to each version table's key column, so each
    branch is an index range scan of (key, transaction_id). A key whose
    version rows all lack their transaction row derives NULL but is listed
    (it has history).

    With a ``bound``, each key's versions from the bound's transaction on are
    read first; the keys they settle (see :class:`HistoryBound`) are not read
    further, the others are derived from their whole history. The result is
    the same; what is read is the rows' recent history, for a sync after a
    small change of a long history.
    """
    if bound is None:
        return _derivation(stamp, restrict, dialect)
    recent = _derivation(stamp, restrict, dialect, since=bound.transaction_id).cte("recent")
    settled = (
        sa.select(recent.c.key, recent.c.derived)
        .where(recent.c.derived >= sa.bindparam("settled_at", bound.issued_at, UTCDateTime()))
        .cte("settled")
    )

    def unsettled(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        return sa.and_(restrict(column), column.not_in(sa.select(settled.c.key)))

    return sa.union_all(
        sa.select(settled.c.key, settled.c.derived),
        _derivation(stamp, unsettled, dialect),
    )


def _derivation(
    stamp: DerivedStamp, restrict: KeyRestriction, dialect: str, *, since: int | None = None
) -> sa.Select[int, datetime | None]:
    """:func:`derived_by_key` without a bound, over the version rows whose key
    satisfies ``restrict`` and, if ``since`` is given, whose transaction id is
    at least ``since``.

    Each version row's transaction is a probe of its primary key (a
    ``LATERAL`` subquery on PostgreSQL, a scalar subquery on SQLite, whose
    planner only nests loops), not a join, on purpose: a join lets the
    planner pick a hash join over a sequential scan of the whole
    ``transaction`` table, which is right for one statement over every row
    and ruinous when repeated per batch or per row (the plan stale
    statistics produced: a full scan per session). A key lookup's plan does
    not depend on statistics, so neither does the cost, which stays
    proportional to the history of the rows derived.
    """
    branches = []
    for source in stamp.sources:
        version = source.table_clause()
        branch = sa.select(
            version.c[source.column].label("key"),
            version.c.transaction_id.label("transaction_id"),
        ).where(restrict(version.c[source.column]))
        if since is not None:
            branch = branch.where(version.c.transaction_id >= since)
        branches.append(branch)
    touches = sa.union_all(*branches).subquery("touches")
    issued_at = sa.select(TRANSACTION.c.issued_at).where(
        TRANSACTION.c.id == touches.c.transaction_id
    )
    if dialect == "postgresql":
        transaction = issued_at.lateral("issued")
        derived: sa.ColumnElement[datetime] = sa.func.max(transaction.c.issued_at)
        source_rows: sa.FromClause = touches.outerjoin(transaction, sa.true())
    else:
        derived = sa.func.max(issued_at.scalar_subquery())
        source_rows = touches
    return (
        sa.select(touches.c.key, sa.type_coerce(derived, UTCDateTime()).label("derived"))
        .select_from(source_rows)
        .group_by(touches.c.key)
    )


def derivation_query(
    stamp: DerivedStamp, dialect: str, keys: Iterable[int] | None = None
) -> sa.Select[int, datetime | None, datetime | None]:
    """``(key, stored, derived)`` for the given keys (all rows when None), set-based."""
    row = stamp.table_clause()
    wanted = None if keys is None else list(keys)

    def restrict(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        return sa.true() if wanted is None else column.in_(wanted)

    derived = derived_by_key(stamp, restrict, dialect).subquery("derived")
    query = sa.select(row.c[stamp.key], row.c[stamp.column], derived.c.derived).select_from(
        row.outerjoin(derived, derived.c.key == row.c[stamp.key])
    )
    if wanted is not None:
        query = query.where(row.c[stamp.key].in_(wanted))
    return query.order_by(row.c[stamp.key])


def stamp_update(
    stamp: DerivedStamp,
    restrict: KeyRestriction,
    dialect: str,
    bound: HistoryBound | None = None,
) -> sa.Update:
    """An UPDATE setting the stamp of every row whose key satisfies ``restrict``
    to its derived value, where history has one and the stored stamp differs;
    it returns the keys it changed. Set-based: the rows' history is read once
    and grouped by key (from the bound on, where that settles it: see
    :func:`derived_by_key`)."""
    row = stamp.table_clause()
    key = row.c[stamp.key]
    derived = derived_by_key(stamp, restrict, dialect, bound).subquery("derived")
    return (
        sa.update(row)
        .values({stamp.column: derived.c.derived})
        .where(
            derived.c.key == key,
            restrict(key),
            derived.c.derived.is_not(None),
            row.c[stamp.column].is_distinct_from(derived.c.derived),
        )
        .returning(key)
    )


def derive_last_modified(
    connection: sa.Connection, keys: Iterable[int] | None = None, *, table: str | None = None
) -> dict[int, datetime | None]:
    """The derived ``last_modified_at`` of each row of ``table`` (None: no history).

    ``table`` may be left out when the database stamps a single table;
    ``keys`` restricts the rows (default: every row of the table). One SQL
    statement, whatever the number of rows. Raises :class:`UsageError` for a
    table that carries no derived stamp.
    """
    stamps = {stamp.table: stamp for stamp in derived_stamps(load(connection))}
    if table is None and len(stamps) == 1:
        (table,) = stamps
    if table not in stamps:
        raise UsageError(
            f"{table or 'no table'} carries no derived stamp",
            f"stamped tables: {', '.join(sorted(stamps)) or 'none'}",
        )
    rows = connection.execute(derivation_query(stamps[table], connection.dialect.name, keys))
    return {row[0]: row[2] for row in rows}
