"""The validity linkage of version rows, checked in SQL.

Every row with history has one chain of versions: each version but the
last is closed by the transaction that wrote the next version of the same
key (``end_transaction_id``), and the last one, the current version, is
open. The checks here find what capture never produces:

* a key with no current version, or with several;
* a version closed by a transaction that wrote no version of that key;
* two versions closed by the same transaction (a fork);
* a delete followed by anything but an insert;
* a live row whose current version is a delete, or a current version that
  is not a delete although the row is gone;
* a version whose transaction row is missing.

They run set-based over whole version tables (``verify --integrity``), or
in memory over the versions of the rows one command is about to show or
repair (:func:`read_problems`, fed by :func:`rows_linkage_problems` or by
the history's own read of a row): those rows' versions are read by an
index range scan, each with a probe of its transaction and live row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa

from auditd.ledger.canonical import key_text, version_table
from auditd.models.audit import TRANSACTION
from auditd.registry import Registry, VersionedTable
from auditd.stamps.repair import members

__all__ = [
    "CheckedVersion",
    "LinkageProblem",
    "VersionLink",
    "broken_rows",
    "chain_problems",
    "current_is_live",
    "has_transaction",
    "linkage_problems",
    "read_problems",
    "rows_linkage_problems",
]

DELETE, INSERT = 2, 0

# What each check reports, in SQL and in memory alike.
_SEVERAL = "the row has no current version, or several (end_transaction_id edited or missing)"
_DANGLING = "closed by a transaction that wrote no version of this row"
_FORK = "two versions closed by the same transaction (a forked chain)"
_AFTER_DELETE = "a version after a delete that is not an insert"
_DELETED_LIVE = "the current version is a delete but the row exists"
_GONE_OPEN = "the row is gone but its current version is not a delete"
_MISSING_TRANSACTION = "the version's transaction row is missing"

Restriction = Callable[[sa.FromClause], sa.ColumnElement[bool]]


@dataclass(frozen=True, kw_only=True)
class LinkageProblem:
    """One break in a row's chain of versions: the table, the row key (JSON
    text), the transaction of the version concerned, and what is wrong."""

    table: str
    key: str
    transaction_id: int | None
    problem: str

    def __str__(self) -> str:
        where = "" if self.transaction_id is None else f" at transaction {self.transaction_id}"
        return f"{self.table} {self.key}{where}: {self.problem}"


def _key(version: sa.FromClause, entry: VersionedTable) -> list[sa.ColumnElement[Any]]:
    return [version.c[name] for name in entry.key]


def _same_key(
    left: sa.FromClause, right: sa.FromClause, entry: VersionedTable
) -> sa.ColumnElement[bool]:
    return sa.and_(*(left.c[name] == right.c[name] for name in entry.key))


def _checks(entry: VersionedTable, restrict: Restriction) -> Iterator[tuple[str, sa.Select[Any]]]:
    """(problem, query of ``key..., transaction_id``) for each kind of break."""
    v = version_table(entry).alias("v")
    w = version_table(entry).alias("w")
    key = _key(v, entry)
    open_versions = sa.func.sum(sa.case((v.c.end_transaction_id.is_(None), 1), else_=0))
    yield (
        _SEVERAL,
        sa.select(*key, sa.func.max(v.c.transaction_id))
        .where(restrict(v))
        .group_by(*key)
        .having(open_versions != 1),
    )
    successor = sa.exists().where(
        _same_key(w, v, entry), w.c.transaction_id == v.c.end_transaction_id
    )
    yield (
        _DANGLING,
        sa.select(*key, v.c.transaction_id).where(
            restrict(v), v.c.end_transaction_id.is_not(None), ~successor
        ),
    )
    yield (
        _FORK,
        sa.select(*key, v.c.end_transaction_id)
        .where(restrict(v), v.c.end_transaction_id.is_not(None))
        .group_by(*key, v.c.end_transaction_id)
        .having(sa.func.count() > 1),
    )
    yield (
        _AFTER_DELETE,
        sa.select(*key, w.c.transaction_id)
        .select_from(
            v.join(w, sa.and_(_same_key(w, v, entry), w.c.transaction_id == v.c.end_transaction_id))
        )
        .where(restrict(v), v.c.operation_type == DELETE, w.c.operation_type != INSERT),
    )
    live = sa.table(
        entry.table, *(sa.column(name) for name in entry.key), schema=entry.table_schema
    )
    is_live = sa.exists().where(*(live.c[name] == v.c[name] for name in entry.key))
    yield (
        _DELETED_LIVE,
        sa.select(*key, v.c.transaction_id).where(
            restrict(v), v.c.end_transaction_id.is_(None), v.c.operation_type == DELETE, is_live
        ),
    )
    yield (
        _GONE_OPEN,
        sa.select(*key, v.c.transaction_id).where(
            restrict(v), v.c.end_transaction_id.is_(None), v.c.operation_type != DELETE, ~is_live
        ),
    )
    # Over whole tables: an anti-join, not a probe per version.
    transaction_row = sa.exists().where(TRANSACTION.c.id == v.c.transaction_id)
    yield (
        _MISSING_TRANSACTION,
        sa.select(*key, v.c.transaction_id).where(restrict(v), ~transaction_row),
    )


def _problems(
    connection: sa.Connection, entry: VersionedTable, restrict: Restriction, limit: int | None
) -> list[LinkageProblem]:
    found: list[LinkageProblem] = []
    width = len(entry.key)
    for problem, query in _checks(entry, restrict):
        if limit is not None:
            query = query.limit(limit)
        for row in connection.execute(query):
            tx = row[width]
            found.append(
                LinkageProblem(
                    table=entry.table,
                    key=key_text(row[:width]),
                    transaction_id=None if tx is None else int(tx),
                    problem=problem,
                )
            )
    return found


def linkage_problems(
    connection: sa.Connection, registry: Registry, *, limit: int | None = 100
) -> list[LinkageProblem]:
    """Every break in every registered version table (up to ``limit`` per
    kind and table). Set-based: one statement per kind of break and table."""
    found: list[LinkageProblem] = []
    for entry in sorted(registry.entries, key=lambda e: e.table):
        found += _problems(connection, entry, lambda v: sa.true(), limit)
    return found


# VersionLink and CheckedVersion are named tuples, not frozen dataclasses: a
# history call builds both for every version, and a frozen dataclass takes
# twice as long to build.
class VersionLink(NamedTuple):
    """What the linkage checks read of one version: its row key, transaction,
    closing transaction and operation."""

    key: tuple[Any, ...]
    transaction_id: int
    end_transaction_id: int | None
    operation_type: int


def chain_problems(
    table: str, versions: Iterable[VersionLink], live: set[tuple[Any, ...]] | None = None
) -> list[LinkageProblem]:
    """The breaks in the chains of ``versions`` (every version of each key
    they hold), checked in memory: the same rules as :func:`linkage_problems`.
    ``live`` is the set of keys that exist in the live table (None: not checked)."""
    by_key: dict[tuple[Any, ...], list[VersionLink]] = {}
    for version in versions:
        by_key.setdefault(version.key, []).append(version)
    found: list[LinkageProblem] = []

    def problem(key: tuple[Any, ...], tx: int | None, what: str) -> None:
        found.append(
            LinkageProblem(table=table, key=key_text(key), transaction_id=tx, problem=what)
        )

    for key, chain in by_key.items():
        written = {version.transaction_id: version for version in chain}
        current = [version for version in chain if version.end_transaction_id is None]
        if len(current) != 1:
            problem(key, max(written), _SEVERAL)
        closers: set[int] = set()
        for version in chain:
            end = version.end_transaction_id
            if end is None:
                continue
            if end in closers:
                problem(key, end, _FORK)
            closers.add(end)
            following = written.get(end)
            if following is None:
                problem(key, version.transaction_id, _DANGLING)
            elif version.operation_type == DELETE and following.operation_type != INSERT:
                problem(key, following.transaction_id, _AFTER_DELETE)
        if live is not None and len(current) == 1:
            (head,) = current
            if head.operation_type == DELETE and key in live:
                problem(key, head.transaction_id, _DELETED_LIVE)
            if head.operation_type != DELETE and key not in live:
                problem(key, head.transaction_id, _GONE_OPEN)
    return found


def _probe(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """Whether a row meets ``condition``, as a scalar subquery: PostgreSQL
    runs it once per outer row (an index probe), where an EXISTS may be
    planned as a hash of the whole table when the outer row count is
    misestimated (statistics that are stale or missing)."""
    return sa.select(sa.literal(1)).where(condition).limit(1).scalar_subquery().is_not(None)


def has_transaction(version: sa.FromClause) -> sa.ColumnElement[bool]:
    """Whether the version's transaction row exists: a primary-key probe."""
    return _probe(TRANSACTION.c.id == version.c.transaction_id)


def current_is_live(
    live: sa.FromClause, version: sa.FromClause, key: Sequence[str]
) -> sa.ColumnElement[Any]:
    """Whether a current version's row exists in the live table (NULL for
    closed versions). The live table is probed by the version's whole key,
    never searched by a part of it: an association's key (a speaker link's
    ``speaker_id, session_id``) need not have an index that starts with the
    parent's column."""
    exists = _probe(sa.and_(*(live.c[name] == version.c[name] for name in key)))
    return sa.case((version.c.end_transaction_id.is_(None), exists), else_=sa.null())


class CheckedVersion(NamedTuple):
    """A version as the row checks read it: its link, whether its
    transaction row exists and (current versions only) its live row."""

    link: VersionLink
    has_transaction: bool
    is_live: bool | None


def read_problems(table: str, versions: Sequence[CheckedVersion]) -> list[LinkageProblem]:
    """The breaks among these versions (every version of each key they
    hold): :func:`chain_problems` against the live rows, then the versions
    whose transaction row is missing."""
    live = {version.link.key for version in versions if version.is_live}
    orphans = [
        LinkageProblem(
            table=table,
            key=key_text(version.link.key),
            transaction_id=version.link.transaction_id,
            problem=_MISSING_TRANSACTION,
        )
        for version in versions
        if not version.has_transaction
    ]
    return [*chain_problems(table, (version.link for version in versions), live), *orphans]


def _entry_versions(
    connection: sa.Connection, entry: VersionedTable, column: str, keys: list[Any]
) -> list[CheckedVersion]:
    """The versions of the rows whose ``column`` is in ``keys``: one
    statement, an index range scan of the versions with a primary-key probe
    of each one's transaction and live row."""
    v = version_table(entry)
    live = sa.table(
        entry.table, *(sa.column(name) for name in entry.key), schema=entry.table_schema
    )
    rows = connection.execute(
        sa.select(
            *_key(v, entry),
            v.c.transaction_id,
            v.c.end_transaction_id,
            v.c.operation_type,
            has_transaction(v),
            current_is_live(live, v, entry.key),
        ).where(v.c[column].in_(keys))
    ).all()
    width = len(entry.key)
    return [
        CheckedVersion(
            link=VersionLink(
                key=tuple(row[:width]),
                transaction_id=int(row[width]),
                end_transaction_id=None if row[width + 1] is None else int(row[width + 1]),
                operation_type=int(row[width + 2]),
            ),
            has_transaction=bool(row[width + 3]),
            is_live=row[width + 4],
        )
        for row in rows
    ]


def _holding_rows_of(registry: Registry, table: str) -> Iterator[tuple[VersionedTable, str]]:
    """Each entry whose history holds rows of ``table`` (its own versions, or
    an association's links to it), with the column naming the row."""
    own = registry.get(table)
    if own is not None and len(own.key) == 1:
        yield own, own.key[0]
    for association in registry.memberships_of(table):
        assert association.membership is not None
        yield association, association.membership.parent_column


def rows_linkage_problems(
    connection: sa.Connection, registry: Registry, table: str, keys: Sequence[Any]
) -> list[LinkageProblem]:
    """The breaks in the history of the rows of ``table`` with these (single
    column) keys, and of the associations that belong to them (a session's
    speakers): only those rows' versions are read, one statement per table."""
    wanted = list(keys)
    if not wanted:
        return []
    found: list[LinkageProblem] = []
    for entry, column in _holding_rows_of(registry, table):
        found += read_problems(entry.table, _entry_versions(connection, entry, column, wanted))
    return found


def broken_rows(
    connection: sa.Connection, registry: Registry, table: str, keys: Sequence[Any]
) -> set[Any]:
    """The keys among ``keys`` of ``table`` whose chain of versions (or one of
    their associations' chains) is visibly broken: not exactly one current
    version (a link nulled, the current version closed, a version forged
    beside it) or a fork. One aggregate statement per table over the rows'
    own versions, no join, returning only the broken keys: cheap enough for
    every batch of a full reconcile. Links redirected to a transaction that
    wrote no version of the row, and every other check, are left to
    :func:`rows_linkage_problems` and ``verify --integrity``."""
    wanted = list(keys)
    broken: set[Any] = set()
    if not wanted:
        return broken
    # One bound parameter for the batch's keys, however many: an expanded
    # IN list would hit SQLite's limit on parameters.
    restrict = members(connection.dialect.name, wanted)
    for entry, column in _holding_rows_of(registry, table):
        v = version_table(entry)
        is_open = sa.case((v.c.end_transaction_id.is_(None), 1), else_=0)
        query = (
            sa.select(v.c[column])
            .where(restrict(v.c[column]))
            .group_by(*_key(v, entry))
            .having(
                sa.or_(
                    sa.func.sum(is_open) != 1,
                    sa.func.count(v.c.end_transaction_id)
                    != sa.func.count(sa.distinct(v.c.end_transaction_id)),
                )
            )
        )
        broken.update(connection.scalars(query))
    return broken
