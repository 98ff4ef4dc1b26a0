"""Reading a block's elements: what the transactions of an id range wrote,
as the sealed elements of :mod:`auditd.ledger.canonical`.

On PostgreSQL the server digests every row it can serialise exactly as the
Python path does (:mod:`auditd.ledger.row_digests`), so only identities and
digests cross the wire; other rows, and every row on SQLite, are read whole
and digested in Python. Both give the same digest for the same stored row,
so a block sealed one way verifies the other.

The statements are built once per table shape and bound per block: a seal
or a verification reads thousands of blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa

from auditd.ledger.canonical import (
    DIGEST_HEX_LENGTH,
    LINK_ELEMENT,
    TRANSACTION_ELEMENT,
    VERSION_ELEMENT,
    Element,
    key_text,
    link_element,
    transaction_element,
    version_element,
    version_table,
)
from auditd.ledger.row_digests import column_types, digest_columns, link_digest
from auditd.models.audit import TRANSACTION
from auditd.models.namespace import audit_schema, quote
from auditd.registry import VersionedTable

__all__ = ["block_elements"]

_AFTER = sa.bindparam("after", type_=sa.BigInteger)
_THROUGH = sa.bindparam("through", type_=sa.BigInteger)

# A table's column name → PostgreSQL type name pairs, sorted (hashable, so
# statements can be cached by it); None on SQLite, where Python digests all.
_Types = tuple[tuple[str, str], ...] | None


class _Reads(NamedTuple):
    """A table's statements for one block: ``served`` reads the identifying
    columns and the server's digest, ``whole`` the rows left to Python."""

    served: sa.Select[Any] | None
    whole: sa.Select[Any] | None


def block_elements(
    connection: sa.Connection,
    entries: Sequence[VersionedTable],
    after: int,
    through: int,
    *,
    server_digests: bool = True,
) -> list[Element]:
    """Every element written by the transactions with ids in ``(after, through]``,
    in manifest order. Reads only; call it in one snapshot.

    ``server_digests=False`` digests every row in this process, on
    PostgreSQL too (the same elements, read whole).
    """
    bounds = {"after": after, "through": through}
    with _block_read_settings(connection):
        types = _table_types(connection, entries, server_digests)
        elements = list(_transaction_elements(connection, types(None), bounds))
        for entry in sorted(entries, key=lambda e: e.table):
            elements += _version_elements(connection, entry, types(entry), bounds)
            elements += _link_elements(connection, entry, types(entry) is not None, bounds)
    elements.sort(key=Element.sort_key)
    return elements


def _transaction_elements(
    connection: sa.Connection, types: _Types, bounds: Mapping[str, int]
) -> Iterator[Element]:
    reads = _transaction_reads(types)
    if reads.served is not None:
        for transaction_id, digest in connection.execute(reads.served, bounds).fetchall():
            yield Element(TRANSACTION_ELEMENT, "", "", int(transaction_id), str(digest))
    if reads.whole is not None:
        for row in _rows(connection, reads.whole, bounds):
            yield transaction_element(row)


def _version_elements(
    connection: sa.Connection, entry: VersionedTable, types: _Types, bounds: Mapping[str, int]
) -> Iterator[Element]:
    reads = _version_reads(entry, types)
    if reads.served is not None:
        for *key, transaction_id, digest in connection.execute(reads.served, bounds).fetchall():
            yield Element(VERSION_ELEMENT, entry.table, key_text(key), int(transaction_id), digest)
    if reads.whole is not None:
        for row in _rows(connection, reads.whole, bounds):
            yield version_element(entry, row)


def _link_elements(
    connection: sa.Connection, entry: VersionedTable, served: bool, bounds: Mapping[str, int]
) -> Iterator[Element]:
    """The links set by the range's transactions: each of their versions
    joined to the version of the same key it closed."""
    rows = connection.execute(_link_statement(entry, served), bounds).fetchall()
    if served:
        for *key, closed, digest in rows:
            yield Element(LINK_ELEMENT, entry.table, key_text(key), int(closed), digest)
        return
    for *key, closed, closer in rows:
        yield link_element(entry, key, {"transaction_id": closed, "end_transaction_id": closer})


def _rows(
    connection: sa.Connection, query: sa.Select[Any], bounds: Mapping[str, int]
) -> Iterator[dict[str, Any]]:
    """The rows of ``query`` as plain dicts (much cheaper to read than row mappings)."""
    result = connection.execute(query, bounds)
    names = list(result.keys())
    for row in result.fetchall():  # one block's rows: bounded
        yield dict(zip(names, row, strict=True))


@lru_cache(maxsize=64)
def _transaction_reads(types: _Types) -> _Reads:
    in_range = sa.and_(TRANSACTION.c.id > _AFTER, TRANSACTION.c.id <= _THROUGH)
    return _reads(TRANSACTION, ("id",), in_range, types)


@lru_cache(maxsize=256)
def _version_reads(entry: VersionedTable, types: _Types) -> _Reads:
    version = version_table(entry)
    in_range = sa.and_(version.c.transaction_id > _AFTER, version.c.transaction_id <= _THROUGH)
    return _reads(version, (*entry.key, "transaction_id"), in_range, types)


def _reads(
    table: sa.TableClause,
    identity: Sequence[str],
    in_range: sa.ColumnElement[bool],
    types: _Types,
) -> _Reads:
    """``end_transaction_id`` is never part of a row's digest: it is sealed as a link."""
    if types is None:
        return _Reads(served=None, whole=sa.select(table).where(in_range))
    columns = {c.name: c for c in table.c if c.name != "end_transaction_id"}
    server = digest_columns(columns, dict(types), DIGEST_HEX_LENGTH)
    served = sa.select(*(table.c[name] for name in identity), server.digest).where(in_range)
    if server.servable is None:
        return _Reads(served=served, whole=None)
    whole = sa.select(table).where(in_range, sa.not_(server.servable))
    return _Reads(served=served.where(server.servable), whole=whole)


@lru_cache(maxsize=256)
def _link_statement(entry: VersionedTable, served: bool) -> sa.Select[Any]:
    closing = version_table(entry).alias("closing")
    closed = version_table(entry).alias("closed")
    last = (
        link_digest(closed.c.transaction_id, closed.c.end_transaction_id, DIGEST_HEX_LENGTH)
        if served
        else closed.c.end_transaction_id
    )
    joined = closing.join(
        closed,
        sa.and_(
            *(closed.c[name] == closing.c[name] for name in entry.key),
            closed.c.end_transaction_id == closing.c.transaction_id,
        ),
    )
    return (
        sa.select(*(closed.c[name] for name in entry.key), closed.c.transaction_id, last)
        .select_from(joined)
        .where(closing.c.transaction_id > _AFTER, closing.c.transaction_id <= _THROUGH)
    )


def _table_types(
    connection: sa.Connection, entries: Sequence[VersionedTable], server_digests: bool
) -> Callable[[VersionedTable | None], _Types]:
    """The column types of the transaction table (``None``) and of each
    entry's version table, read in one catalog query; all None on SQLite
    (and when the server is not to digest)."""
    if connection.dialect.name != "postgresql" or not server_digests:
        return lambda entry: None
    schema = audit_schema(connection)
    transactions = (schema, TRANSACTION.name)
    tables = [transactions, *((e.audit_schema, e.version_table) for e in entries)]
    found = {
        table: tuple(sorted(types.items()))
        for table, types in column_types(connection, tables).items()
    }
    return lambda entry: found[
        transactions if entry is None else (entry.audit_schema, entry.version_table)
    ]


# What a block's reads need from PostgreSQL, for the duration of one block.
# A block reads a bounded slice of each table through its indexes: the link
# query's row estimate for a self-join is far too low, so the planner would
# otherwise hash-join a (parallel) sequential scan of the whole version table
# for every block, and sealing and verification grew with the square of the
# history (35 ms per block at 200,000 versions against 3 ms by index). And the
# digest expressions must resolve to pg_catalog's functions and operators,
# never to look-alikes a role with CREATE on a schema of the search path has
# put there (an exact-type match there would win over pg_catalog's).
_PLANS = {"enable_seqscan": "off", "max_parallel_workers_per_gather": "0", "jit": "off"}


@contextmanager
def _block_read_settings(connection: sa.Connection) -> Iterator[None]:
    """Index-driven plans and a search path of pg_catalog and the audit schema
    for the block's reads; the transaction's own settings are restored
    afterwards (the linkage checks that follow in the same verification
    snapshot scan whole tables, and should)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    schema = audit_schema(connection)
    settings = {
        **_PLANS,
        "search_path": "pg_catalog" if schema is None else f"pg_catalog, {quote(schema)}",
    }
    names = list(settings)
    previous = connection.execute(
        sa.select(*(sa.func.current_setting(name) for name in names))
    ).one()
    _set_locally(connection, settings)
    yield
    # Not on an error: the transaction is then rolled back, settings with it.
    _set_locally(connection, dict(zip(names, previous, strict=True)))


def _set_locally(connection: sa.Connection, settings: Mapping[str, str]) -> None:
    connection.execute(
        sa.select(*(sa.func.set_config(name, value, True) for name, value in settings.items()))
    )
