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

They run over whole version tables (``verify --integrity``) or over the
rows one command is about to show or repair (:func:`require_intact`), where
each check is an index range scan of the rows' own history.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from auditd.errors import INTEGRITY_HINT, IntegrityError
from auditd.ledger.canonical import key_text, version_table
from auditd.models.audit import TRANSACTION
from auditd.registry import Registry, VersionedTable

__all__ = ["LinkageProblem", "linkage_problems", "require_intact", "rows_linkage_problems"]

DELETE, INSERT = 2, 0

Restriction = Callable[[sa.FromClause], sa.ColumnElement[bool]]


@dataclass(frozen=True, kw_only=True)
class LinkageProblem:
    """One break in a row's chain of versions: the table, the row key (JSON
    text), the transaction of the version concerned, and what is wrong."""

    table: str
    key: str
    transaction_id: int | None
    problem: str
    subject: Any = None  # the key of the row asked about (for an association: its parent)

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
        "the row has no current version, or several (end_transaction_id edited or missing)",
        sa.select(*key, sa.func.max(v.c.transaction_id))
        .where(restrict(v))
        .group_by(*key)
        .having(open_versions != 1),
    )
    successor = sa.exists().where(
        _same_key(w, v, entry), w.c.transaction_id == v.c.end_transaction_id
    )
    yield (
        "closed by a transaction that wrote no version of this row",
        sa.select(*key, v.c.transaction_id).where(
            restrict(v), v.c.end_transaction_id.is_not(None), ~successor
        ),
    )
    yield (
        "two versions closed by the same transaction (a forked chain)",
        sa.select(*key, v.c.end_transaction_id)
        .where(restrict(v), v.c.end_transaction_id.is_not(None))
        .group_by(*key, v.c.end_transaction_id)
        .having(sa.func.count() > 1),
    )
    yield (
        "a version after a delete that is not an insert",
        sa.select(*key, w.c.transaction_id)
        .select_from(
            v.join(w, sa.and_(_same_key(w, v, entry), w.c.transaction_id == v.c.end_transaction_id))
        )
        .where(restrict(v), v.c.operation_type == DELETE, w.c.operation_type != INSERT),
    )
    live = sa.table(entry.table, *(sa.column(name) for name in entry.key))
    is_live = sa.exists().where(*(live.c[name] == v.c[name] for name in entry.key))
    yield (
        "the current version is a delete but the row exists",
        sa.select(*key, v.c.transaction_id).where(
            restrict(v), v.c.end_transaction_id.is_(None), v.c.operation_type == DELETE, is_live
        ),
    )
    yield (
        "the row is gone but its current version is not a delete",
        sa.select(*key, v.c.transaction_id).where(
            restrict(v), v.c.end_transaction_id.is_(None), v.c.operation_type != DELETE, ~is_live
        ),
    )
    has_transaction = sa.exists().where(TRANSACTION.c.id == v.c.transaction_id)
    yield (
        "the version's transaction row is missing",
        sa.select(*key, v.c.transaction_id).where(restrict(v), ~has_transaction),
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


def _key_in(column: str, keys: list[Any]) -> Restriction:
    def restrict(version: sa.FromClause) -> sa.ColumnElement[bool]:
        return version.c[column].in_(keys)

    return restrict


def rows_linkage_problems(
    connection: sa.Connection, registry: Registry, table: str, keys: Sequence[Any]
) -> list[LinkageProblem]:
    """The breaks in the history of the rows of ``table`` with these (single
    column) keys, and of the associations that belong to them (a session's
    speakers): only those rows' versions are read."""
    wanted = list(keys)
    if not wanted:
        return []
    found: list[LinkageProblem] = []
    for entry in registry.entries:
        if entry.table == table and len(entry.key) == 1:
            (column,) = entry.key
        elif entry.membership is not None and entry.membership.parent_table == table:
            column = entry.membership.parent_column
        else:
            continue
        position = entry.key.index(column) if column in entry.key else None
        for problem in _problems(connection, entry, _key_in(column, wanted), None):
            subject = None if position is None else json.loads(problem.key)[position]
            found.append(dataclasses.replace(problem, subject=subject))
    return found


def require_intact(
    connection: sa.Connection, registry: Registry, table: str, keys: Sequence[Any], what: str
) -> None:
    """Raise :class:`IntegrityError` if the history of any of these rows is
    broken, rather than let ``what`` present or follow wrong values."""
    problems = rows_linkage_problems(connection, registry, table, keys)
    if problems:
        raise IntegrityError(
            f"refusing to {what}: the history of {problems[0]}",
            INTEGRITY_HINT,
        )
