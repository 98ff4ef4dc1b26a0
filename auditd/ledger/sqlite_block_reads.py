"""Reading a block on SQLite: every row digested in this process, from the
row as SQLite returns it.

SQLite has no SHA-256, and writes JSON only through per-value SQL
expressions, which its bytecode interpreter evaluates at about 12 µs a
version row; fetching the row whole takes about 4. So a block's rows are
fetched as stored (one statement per table and kind, on the connection's
own DBAPI connection, without SQLAlchemy's row handling) and digested by
:func:`auditd.ledger.canonical.row_digest`, a transaction time stored in
SQLite's own form rewritten as text instead of parsed. The lines are those
:func:`auditd.ledger.block_reads.read_block` writes with
``server_digests=False``, byte for byte, in manifest order.

Audit tables have no schema on SQLite (:mod:`auditd.models.namespace`), so
the statements are compiled once per set of registered tables, without the
engine's schema translation.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from auditd.ledger.blocks import manifest_lines, manifest_table
from auditd.ledger.canonical import (
    LINK_ELEMENT,
    TRANSACTION_ELEMENT,
    VERSION_ELEMENT,
    Element,
    key_text,
    link_digest,
    link_join,
    row_digest,
    version_table,
)
from auditd.models.audit import TRANSACTION
from auditd.registry import VersionedTable
from auditd.timestamps import UTCDateTime

__all__ = ["Part", "read_parts"]

_DIALECT = sqlite.dialect()
_INTEGERS = frozenset({int})
# The one text form a UTCDateTime is stored in (by SQLAlchemy, and by the
# capture triggers), rewritten here as datetime.isoformat() writes the value
# the exact path reads; any other form takes the exact path.
_STORED_MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", re.ASCII)
_NO_FRACTION = ".000000"


class Part(NamedTuple):
    """One (kind, table) of a block's manifest: its lines, in manifest order."""

    kind: str
    lines: list[str]


@dataclass(frozen=True)
class _Read:
    """One compiled statement and the positions of its bound range."""

    sql: str
    bounds: tuple[str, ...]

    def rows(self, driver: sqlite3.Connection, after: int, through: int) -> list[Any]:
        values = {"after": after, "through": through}
        parameters = tuple(values[name] for name in self.bounds)
        try:
            return driver.execute(self.sql, parameters).fetchall()
        except sqlite3.Error as error:
            # Raised as SQLAlchemy raises the driver's errors, which is what
            # the commands and jobs report as a database error.
            raise sa.exc.DBAPIError.instance(self.sql, parameters, error, sqlite3.Error) from error


def _compiled(statement: sa.Select[Any]) -> _Read:
    compiled = statement.compile(dialect=_DIALECT)
    return _Read(str(compiled), tuple(compiled.positiontup or ()))


def read_parts(
    connection: sa.Connection, entries: Sequence[VersionedTable], after: int, through: int
) -> list[Part]:
    """The parts of the block of the transactions with ids in ``(after,
    through]``, in manifest order: the transactions, each table's versions,
    each table's links (``entries`` sorted by table). Reads only, in
    ``connection``'s transaction (begun here if none is, as any statement
    through it would)."""
    if not connection.in_transaction():
        connection.begin()
    driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
    plan = _plan(tuple(entries))
    parts = [Part(TRANSACTION_ELEMENT, plan.transactions(driver, after, through))]
    parts += [Part(VERSION_ELEMENT, read(driver, after, through)) for read in plan.versions]
    parts += [Part(LINK_ELEMENT, read(driver, after, through)) for read in plan.links]
    return parts


_PartReader = Callable[[sqlite3.Connection, int, int], list[str]]


@dataclass(frozen=True)
class _Plan:
    transactions: _PartReader
    versions: tuple[_PartReader, ...]
    links: tuple[_PartReader, ...]


@lru_cache(maxsize=16)
def _plan(entries: tuple[VersionedTable, ...]) -> _Plan:
    return _Plan(
        _transaction_reader(),
        tuple(_version_reader(entry) for entry in entries),
        tuple(_link_reader(entry) for entry in entries),
    )


_AFTER = sa.bindparam("after", type_=sa.BigInteger)
_THROUGH = sa.bindparam("through", type_=sa.BigInteger)


def _transaction_reader() -> _PartReader:
    """Transaction rows, by id, with their values as the exact path reads
    them through SQLAlchemy's types (a UTCDateTime as an aware datetime,
    which the digest writes as its ``isoformat()``)."""
    names = sorted(column.name for column in TRANSACTION.c)
    raw = sa.table(TRANSACTION.name, *(sa.column(name) for name in names))
    in_range = sa.and_(raw.c.id > _AFTER, raw.c.id <= _THROUGH)
    read = _compiled(sa.select(raw).where(in_range).order_by(raw.c.id))
    moments = {
        number
        for number, name in enumerate(names)
        if isinstance(TRANSACTION.c[name].type, UTCDateTime)
    }
    types = [TRANSACTION.c[name].type.dialect_impl(_DIALECT) for name in names]
    processors = {
        number: process
        for number, type_ in enumerate(types)
        if (process := type_.result_processor(_DIALECT, None)) is not None
    }
    position = names.index("id")

    def values_of(row: tuple[Any, ...]) -> list[Any]:
        """The row's values as SQLAlchemy reads them, a time stored in
        SQLite's own form given as its ``isoformat()`` text instead."""
        values = list(row)
        for number, process in processors.items():
            stored = values[number]
            if stored is None:
                continue
            if number in moments and type(stored) is str and _STORED_MOMENT.fullmatch(stored):
                values[number] = _isoformat(stored)
            else:
                values[number] = process(stored)
        return values

    def lines(driver: sqlite3.Connection, after: int, through: int) -> list[str]:
        return [
            f'["{TRANSACTION_ELEMENT}","","",{int(row[position])},'
            f'"{row_digest(names, values_of(row))}"]'
            for row in read.rows(driver, after, through)
        ]

    return lines


def _version_reader(entry: VersionedTable) -> _PartReader:
    """An entry's version rows (untyped: digested as stored, as the exact
    path reads them), every column but ``end_transaction_id``."""
    version = version_table(entry)
    names = sorted(column.name for column in version.c if column.name != "end_transaction_id")
    in_range = sa.and_(version.c.transaction_id > _AFTER, version.c.transaction_id <= _THROUGH)
    read = _compiled(sa.select(*(version.c[name] for name in names)).where(in_range))
    keys = tuple(names.index(name) for name in entry.key)
    line = _line_writer(VERSION_ELEMENT, entry.table, keys, names.index("transaction_id"))

    def lines(driver: sqlite3.Connection, after: int, through: int) -> list[str]:
        found = [line(row, row_digest(names, row)) for row in read.rows(driver, after, through)]
        found.sort()
        return [text for _, _, text in found]

    return lines


def _link_reader(entry: VersionedTable) -> _PartReader:
    """The links set by the range's transactions (:func:`auditd.ledger.canonical.link_join`)."""
    links = link_join(entry, _AFTER, _THROUGH)
    closed = links.closed
    columns = [
        *(closed.c[name] for name in entry.key),
        closed.c.transaction_id,
        closed.c.end_transaction_id,
    ]
    read = _compiled(sa.select(*columns).select_from(links.joined).where(links.in_range))
    closed_at = len(entry.key)
    line = _line_writer(LINK_ELEMENT, entry.table, tuple(range(closed_at)), closed_at)

    def lines(driver: sqlite3.Connection, after: int, through: int) -> list[str]:
        found = [
            line(row, link_digest(int(row[closed_at]), int(row[closed_at + 1])))
            for row in read.rows(driver, after, through)
        ]
        found.sort()
        return [text for _, _, text in found]

    return lines


def _isoformat(stored: str) -> str:
    """``datetime.isoformat()`` of the aware UTC value stored as ``_STORED_MOMENT``."""
    fraction = stored[19:]
    return f"{stored[:10]}T{stored[11:19]}{'' if fraction == _NO_FRACTION else fraction}+00:00"


_LineWriter = Callable[[tuple[Any, ...], str], tuple[int, str, str]]


def _line_writer(kind: str, name: str, keys: tuple[int, ...], tx: int) -> _LineWriter:
    """What writes the element of a row of table ``name`` whose key is at
    the positions ``keys`` and transaction id at ``tx``, given its digest:
    (what orders it in its part, its manifest line), the line exactly as
    :func:`auditd.ledger.blocks.manifest_lines` writes the element the
    exact path builds. Integer keys, the common case, are written here."""
    prefix = f'["{kind}",{manifest_table(name)},"'

    def other(values: list[Any], transaction_id: int, digest: str) -> tuple[int, str, str]:
        text = key_text(values)
        (line,) = manifest_lines([Element(kind, name, text, transaction_id, digest)])
        return transaction_id, text, line

    if len(keys) == 1:
        (position,) = keys

        def single(row: tuple[Any, ...], digest: str) -> tuple[int, str, str]:
            transaction_id = int(row[tx])
            if type(key := row[position]) is not int:
                return other([key], transaction_id, digest)
            text = f"[{key}]"
            return transaction_id, text, f'{prefix}{text}",{transaction_id},"{digest}"]'

        return single

    def composite(row: tuple[Any, ...], digest: str) -> tuple[int, str, str]:
        transaction_id = int(row[tx])
        values = [row[position] for position in keys]
        if not _INTEGERS.issuperset(map(type, values)):
            return other(values, transaction_id, digest)
        text = "[" + ",".join(map(str, values)) + "]"
        return transaction_id, text, f'{prefix}{text}",{transaction_id},"{digest}"]'

    return composite
