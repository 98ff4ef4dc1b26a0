"""Reading a block: what the transactions of an id range wrote, as the
manifest of sealed elements (:mod:`auditd.ledger.canonical`,
:mod:`auditd.ledger.blocks`).

On PostgreSQL the server digests every row it can serialise exactly as the
Python path does (:mod:`auditd.ledger.row_digests`) and writes its manifest
lines, in manifest order, joined into one text per table and kind, so only
those texts cross the wire; other rows are read whole and digested in
Python. On SQLite, which would evaluate that serialisation value by value
in its bytecode interpreter, every row is read as stored and digested in
this process (:mod:`auditd.ledger.sqlite_block_reads`). Every way gives the
same manifest for the same stored rows, so a block sealed one way verifies
the others.

The statements are built once per table shape and bound per block: a seal
or a verification reads thousands of blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from auditd.ledger import sqlite_block_reads
from auditd.ledger.blocks import decode_manifest, manifest_lines, manifest_table
from auditd.ledger.canonical import (
    DIGEST_HEX_LENGTH,
    LINK_ELEMENT,
    TRANSACTION_ELEMENT,
    VERSION_ELEMENT,
    Element,
    link_element,
    link_join,
    transaction_element,
    version_element,
    version_table,
)
from auditd.ledger.row_digests import INTEGER_TYPES, column_types, digest_columns, link_digest
from auditd.models.audit import TRANSACTION
from auditd.models.namespace import audit_schema, quote
from auditd.registry import VersionedTable

__all__ = ["BlockContent", "read_block"]

_AFTER = sa.bindparam("after", type_=sa.BigInteger)
_THROUGH = sa.bindparam("through", type_=sa.BigInteger)

# A select of any number of columns of any type.
_Statement = sa.Select[*tuple[Any, ...]]

# A table's column name → PostgreSQL type name pairs, sorted (hashable, so
# statements can be cached by it); None where Python digests every row.
_Types = tuple[tuple[str, str], ...] | None


class _Part(NamedTuple):
    """One (kind, table) of a block's manifest. ``served`` selects the lines
    the database writes, with what orders them (``tx``, ``k``), and a NULL
    line for each row it leaves to Python; ``whole`` selects those rows,
    which ``element_of`` turns into elements. It runs only when ``served``
    is None or named such a row: most blocks have none."""

    served: _Statement | None
    whole: _Statement | None
    element_of: Callable[[dict[str, Any]], Element]
    kind: str


@dataclass(frozen=True, kw_only=True)
class BlockContent:
    """What a block covers: its manifest (one line per element, in manifest
    order) and how many transaction and version rows it holds."""

    manifest: bytes
    transaction_count: int
    version_count: int

    def elements(self) -> list[Element]:
        return decode_manifest(self.manifest)


def read_block(
    connection: sa.Connection,
    entries: Sequence[VersionedTable],
    after: int,
    through: int,
    *,
    server_digests: bool = True,
) -> BlockContent:
    """Every element written by the transactions with ids in ``(after, through]``.
    Reads only; call it in one snapshot.

    ``server_digests=False`` digests every row in this process through the
    generic path (the same manifest, read from whole rows).
    """
    ordered = tuple(sorted(entries, key=lambda e: e.table))
    if server_digests and connection.dialect.name == "sqlite":
        parts = sqlite_block_reads.read_parts(connection, ordered, after, through)
        return _content((kind, _PartLines("\n".join(lines), len(lines))) for kind, lines in parts)
    return _content(_read_parts(connection, ordered, after, through, server_digests))


def _content(parts: Iterable[tuple[str, _PartLines]]) -> BlockContent:
    counts = dict.fromkeys((TRANSACTION_ELEMENT, VERSION_ELEMENT, LINK_ELEMENT), 0)
    manifest: list[str] = []
    for kind, lines in parts:
        if lines.size:
            manifest.append(lines.text)
        counts[kind] += lines.size
    return BlockContent(
        manifest="\n".join(manifest).encode(),
        transaction_count=counts[TRANSACTION_ELEMENT],
        version_count=counts[VERSION_ELEMENT],
    )


def _read_parts(
    connection: sa.Connection,
    ordered: tuple[VersionedTable, ...],
    after: int,
    through: int,
    server_digests: bool,
) -> Iterator[tuple[str, _PartLines]]:
    """Each part's kind and lines, in manifest order: PostgreSQL's server
    digests, or the generic Python path."""
    bounds = {"after": after, "through": through}
    with _block_read_settings(connection):
        types = _table_types(connection, ordered, server_digests)
        parts, served = _plan(ordered, types(None), tuple(types(e) for e in ordered))
        # One statement for every line the database writes: a block of a few
        # hundred rows would otherwise pay a round trip per table and kind.
        by_part = [_PartLines() for _ in parts]
        left_to_python = {number for number, part in enumerate(parts) if part.served is None}
        if served is not None:
            for number, text, count, left in _served_lines(connection, served, bounds):
                by_part[number] = _PartLines(text, count)
                if left:
                    left_to_python.add(number)
        for number, (part, lines) in enumerate(zip(parts, by_part, strict=True)):
            if part.whole is not None and number in left_to_python:
                lines = _merged(
                    lines, [part.element_of(row) for row in _rows(connection, part.whole, bounds)]
                )
            yield part.kind, lines


class _PartLines(NamedTuple):
    """The lines of one part of a block's manifest, joined by newlines."""

    text: str = ""
    size: int = 0  # how many lines


def _served_lines(
    connection: sa.Connection, served: _Statement, bounds: Mapping[str, int]
) -> Iterator[tuple[int, str, int, bool]]:
    """For each part the server writes lines of: its number, its lines in
    manifest order joined by newlines (:func:`_plan`), how many, and whether
    it left rows to Python."""
    for number, text, count, left in connection.execute(served, bounds):
        yield number, text or "", count, bool(left)


def _merged(lines: _PartLines, rest: list[Element]) -> _PartLines:
    """The server's lines of one part with those of the elements digested
    here, in manifest order."""
    if not rest:
        return lines
    elements = [*decode_manifest(lines.text.encode()), *rest]
    elements.sort(key=Element.sort_key)
    return _PartLines("\n".join(manifest_lines(elements)), len(elements))


def _rows(
    connection: sa.Connection, query: _Statement, bounds: Mapping[str, int]
) -> Iterator[dict[str, Any]]:
    """The rows of ``query`` as plain dicts (much cheaper to read than row mappings)."""
    result = connection.execute(query, bounds)
    names = list(result.keys())
    for row in result.fetchall():  # one block's rows: bounded
        yield dict(zip(names, row, strict=True))


@lru_cache(maxsize=64)
def _plan(
    entries: tuple[VersionedTable, ...],
    transaction_types: _Types,
    entry_types: tuple[_Types, ...],
) -> tuple[tuple[_Part, ...], _Statement | None]:
    """The parts of a block's manifest in manifest order (the transactions,
    each table's versions, each table's links) and the one statement reading
    every line the server writes, each part's joined into one text."""
    served = [_served(e, t) for e, t in zip(entries, entry_types, strict=True)]
    parts = [_transaction_part(transaction_types)]
    parts += [_version_part(e, t) for e, t in zip(entries, served, strict=True)]
    parts += [_link_part(e, t) for e, t in zip(entries, served, strict=True)]
    tagged = [
        part.served.add_columns(sa.literal(number, sa.Integer).label("part"))
        for number, part in enumerate(parts)
        if part.served is not None
    ]
    if not tagged:
        return tuple(parts), None
    lines = sa.union_all(*tagged).subquery("lines")
    # The server joins each part's lines into one text: fetching them row by
    # row cost the client as much again as the server took to write them.
    joined = sa.func.string_agg(
        lines.c.line, aggregate_order_by(sa.literal("\n", sa.Text), lines.c.tx, lines.c.k)
    )
    left = sa.func.count() - sa.func.count(lines.c.line)
    statement = (
        sa.select(lines.c.part, joined, sa.func.count(lines.c.line), left)
        .group_by(lines.c.part)
        .order_by(lines.c.part)
    )
    return tuple(parts), statement


def _served(entry: VersionedTable, types: _Types) -> _Types:
    """``types`` if the server may write ``entry``'s lines: its key must be
    integers, whose JSON text needs no escaping (else Python writes them all)."""
    if types is None:
        return types
    if any(dict(types).get(name) not in INTEGER_TYPES for name in entry.key):
        return None
    return types


def _transaction_part(types: _Types) -> _Part:
    in_range = sa.and_(TRANSACTION.c.id > _AFTER, TRANSACTION.c.id <= _THROUGH)
    whole = sa.select(TRANSACTION).where(in_range)
    if types is None:
        return _Part(None, whole, transaction_element, TRANSACTION_ELEMENT)
    no_key = sa.cast(sa.literal(""), sa.Text).collate("C")
    return _row_part(
        TRANSACTION,
        TRANSACTION_ELEMENT,
        "",
        no_key,
        TRANSACTION.c.id,
        in_range,
        types,
        transaction_element,
    )


def _version_part(entry: VersionedTable, types: _Types) -> _Part:
    version = version_table(entry)
    in_range = sa.and_(version.c.transaction_id > _AFTER, version.c.transaction_id <= _THROUGH)
    element_of = partial(version_element, entry)
    if types is None:
        return _Part(None, sa.select(version).where(in_range), element_of, VERSION_ELEMENT)
    return _row_part(
        version,
        VERSION_ELEMENT,
        entry.table,
        _key([version.c[name] for name in entry.key]),
        version.c.transaction_id,
        in_range,
        types,
        element_of,
    )


def _row_part(
    table: sa.TableClause,
    kind: str,
    name: str,
    key: sa.ColumnElement[str],
    transaction_id: sa.ColumnElement[int],
    in_range: sa.ColumnElement[bool],
    types: tuple[tuple[str, str], ...],
    element_of: Callable[[dict[str, Any]], Element],
) -> _Part:
    """``end_transaction_id`` is never part of a row's digest: it is sealed as a link."""
    columns = {c.name: c for c in table.c if c.name != "end_transaction_id"}
    server = digest_columns(columns, dict(types), DIGEST_HEX_LENGTH)
    line = _line(kind, name, key, transaction_id, server.digest)
    if server.servable is None:
        labelled = (line.label("line"), transaction_id.label("tx"), key.label("k"))
        return _Part(sa.select(*labelled).where(in_range), None, element_of, kind)
    # The digest only where it is the Python path's.
    labelled = (
        sa.case((server.servable, line)).label("line"),
        transaction_id.label("tx"),
        key.label("k"),
    )
    whole = sa.select(table).where(in_range, sa.not_(server.servable))
    return _Part(sa.select(*labelled).where(in_range), whole, element_of, kind)


def _link_part(entry: VersionedTable, types: _Types) -> _Part:
    """The links set by the range's transactions (:func:`auditd.ledger.canonical.link_join`)."""
    links = link_join(entry, _AFTER, _THROUGH)
    closed, joined, in_range = links.closed, links.joined, links.in_range

    def element_of(row: dict[str, Any]) -> Element:
        return link_element(entry, [row[name] for name in entry.key], row)

    keys = [closed.c[name] for name in entry.key]
    columns = [*keys, closed.c.transaction_id, closed.c.end_transaction_id]
    whole = sa.select(*columns).select_from(joined).where(in_range)
    if types is None:
        return _Part(None, whole, element_of, LINK_ELEMENT)
    key = _key(keys)
    digest = link_digest(closed.c.transaction_id, closed.c.end_transaction_id, DIGEST_HEX_LENGTH)
    line = _line(LINK_ELEMENT, entry.table, key, closed.c.transaction_id, digest)
    served = sa.select(line.label("line"), closed.c.transaction_id.label("tx"), key.label("k"))
    return _Part(served.select_from(joined).where(in_range), None, element_of, LINK_ELEMENT)


def _line(
    kind: str,
    table: str,
    key: sa.ColumnElement[str],
    transaction_id: sa.ColumnElement[int],
    digest: sa.ColumnElement[str],
) -> sa.ColumnElement[str]:
    """A manifest line, exactly as :func:`auditd.ledger.blocks.manifest_lines`
    writes it."""
    prefix = f'["{kind}",{manifest_table(table)},"'
    return prefix + key + '",' + sa.cast(transaction_id, sa.Text) + ',"' + digest + '"]'


def _key(columns: Sequence[sa.ColumnElement[Any]]) -> sa.ColumnElement[str]:
    """:func:`auditd.ledger.canonical.key_text` of integer key columns, in SQL,
    compared byte by byte (code point order: the order Python sorts keys in)."""
    text: sa.ColumnElement[str] = sa.literal("[")
    for number, column in enumerate(columns):
        text = text + ("," if number else "") + sa.cast(column, sa.Text)
    return (text + "]").collate("C")


def _table_types(
    connection: sa.Connection, entries: Sequence[VersionedTable], server_digests: bool
) -> Callable[[VersionedTable | None], _Types]:
    """The column types of the transaction table (``None``) and of each
    entry's version table on PostgreSQL, read in one catalog query; all None
    when the server is not to digest."""
    if not server_digests:
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
