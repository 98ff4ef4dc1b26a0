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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from auditd.errors import UsageError
from auditd.models.audit import TRANSACTION
from auditd.registry import Registry, load
from auditd.timestamps import UTCDateTime


@dataclass(frozen=True, kw_only=True)
class StampSource:
    """A version table whose rows count as changes of the stamped row;
    ``column`` holds the stamped row's key."""

    version_table: str
    column: str

    def table_clause(self) -> sa.TableClause:
        """The version table with the two columns derivation reads."""
        return sa.table(self.version_table, sa.column(self.column), sa.column("transaction_id"))


@dataclass(frozen=True, kw_only=True)
class DerivedStamp:
    """A timestamp column kept equal to its row's latest versioned change."""

    table: str
    key: str
    column: str
    sources: tuple[StampSource, ...]

    def table_clause(self) -> sa.TableClause:
        return sa.table(self.table, sa.column(self.key), sa.column(self.column, UTCDateTime()))


def derived_stamps(registry: Registry) -> tuple[DerivedStamp, ...]:
    """Every stamp the registry says to keep: each stamped table, derived from
    its own version table and from those of the associations that move it."""
    stamps = []
    for entry in registry.stamped():
        assert entry.stamp_column is not None
        if len(entry.key) != 1:
            continue  # a stamp is kept for rows addressed by one key column
        (key,) = entry.key
        sources = [StampSource(version_table=entry.version_table, column=key)]
        sources += [
            StampSource(version_table=association.version_table, column=parent.column)
            for association in registry.entries
            for parent in association.parents
            if parent.parent_table == entry.table
        ]
        stamps.append(
            DerivedStamp(
                table=entry.table, key=key, column=entry.stamp_column, sources=tuple(sources)
            )
        )
    return tuple(stamps)


def load_stamps(engine: sa.Engine) -> tuple[DerivedStamp, ...]:
    """The stamps of the engine's database, from its registry (read now)."""
    with engine.connect() as connection:
        return derived_stamps(load(connection))


def derived_value(stamp: DerivedStamp, row: sa.TableClause) -> sa.ColumnElement[datetime]:
    """A correlated scalar subquery: the derived stamp of ``row``'s current row.

    Each branch is an index range scan on (key, transaction_id) of one version
    table, so the cost is proportional to the row's own history.
    """
    branches = []
    for source in stamp.sources:
        version = source.table_clause()
        branches.append(
            sa.select(version.c.transaction_id)
            .where(version.c[source.column] == row.c[stamp.key])
            .correlate(row)
        )
    transaction_ids = sa.union_all(*branches)
    return sa.type_coerce(
        sa.select(sa.func.max(TRANSACTION.c.issued_at))
        .where(TRANSACTION.c.id.in_(transaction_ids))
        .correlate(row)
        .scalar_subquery(),
        UTCDateTime(),
    )


def derivation_query(
    stamp: DerivedStamp, keys: Iterable[int] | None = None
) -> sa.Select[int, datetime | None, datetime | None]:
    """``(key, stored, derived)`` for the given keys (all rows when None)."""
    row = stamp.table_clause()
    query = sa.select(
        row.c[stamp.key], row.c[stamp.column], derived_value(stamp, row).label("derived")
    )
    if keys is not None:
        query = query.where(row.c[stamp.key].in_(list(keys)))
    return query.order_by(row.c[stamp.key])


def drift_condition(stamp: DerivedStamp, row: sa.TableClause) -> sa.ColumnElement[bool]:
    """True where history has a value and the stored stamp differs from it."""
    derived = derived_value(stamp, row)
    return sa.and_(derived.is_not(None), row.c[stamp.column].is_distinct_from(derived))


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
    rows = connection.execute(derivation_query(stamps[table], keys))
    return {row[0]: row[2] for row in rows}
