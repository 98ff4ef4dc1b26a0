"""Derive ``last_modified_at`` from version history, in SQL.

The truth for a row is the ``issued_at`` of the latest transaction that
versioned the row itself or one of its associations (a speakers-only change
writes only ``speakers_sessions_version``). "Latest" is the largest
``issued_at``, which never moves backwards, whatever order transactions
committed in. Rows with no history at all derive NULL and are left alone:
there is nothing to derive them from (``adopt`` writes a baseline).

Everything here is a pure query builder or a read; repairs live in
:mod:`auditd.reconcile`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

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


SESSION_LAST_MODIFIED = DerivedStamp(
    table="sessions",
    key="id",
    column="last_modified_at",
    sources=(
        StampSource(version_table="sessions_version", column="id"),
        StampSource(version_table="speakers_sessions_version", column="session_id"),
    ),
)

DERIVED_STAMPS = (SESSION_LAST_MODIFIED,)

_transactions = sa.table("transaction", sa.column("id"), sa.column("issued_at", UTCDateTime()))


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
        sa.select(sa.func.max(_transactions.c.issued_at))
        .where(_transactions.c.id.in_(transaction_ids))
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
    connection: sa.Connection,
    keys: Iterable[int] | None = None,
    stamp: DerivedStamp = SESSION_LAST_MODIFIED,
) -> dict[int, datetime | None]:
    """The derived ``last_modified_at`` of each row (None: no history).

    ``keys`` restricts the rows (default: every row of the table). One SQL
    statement, whatever the number of rows.
    """
    rows = connection.execute(derivation_query(stamp, keys))
    return {row[0]: row[2] for row in rows}
