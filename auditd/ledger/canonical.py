"""What a block seals: the canonical form of the rows its transactions wrote.

For the transactions with ids in ``(after, through]`` a block seals three
kinds of element, each identified by ``(kind, table, key, transaction id)``
and carrying the digest of its canonical serialisation:

* ``T``: a transaction row, every non-NULL column (actor, issued_at, ...);
* ``V``: a version row of any registered version table, every non-NULL
  column (keys, values, ``transaction_id``, ``operation_type``) except
  ``end_transaction_id``;
* ``L``: a validity link, "the version of this key written by transaction
  P was closed by transaction T", sealed in the block of T.

``end_transaction_id`` is left out of ``V`` on purpose: a later transaction
closes an earlier, already sealed version, legitimately, and that closing is
sealed as an ``L`` element of the closing transaction's block instead. So
nulling, redirecting or setting ``end_transaction_id`` by hand changes the
``L`` elements of some sealed block (or breaks the linkage checks of
:mod:`auditd.ledger.linkage` when it points past the sealed range).

NULL columns are left out of the serialisation, so a column added later by
a migration (NULL in old rows) does not change old digests. Timestamps are
serialised in UTC, so the database session's time zone cannot either.
"""

from __future__ import annotations

import hashlib
import json
from base64 import b64encode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from auditd.registry import VersionedTable

__all__ = [
    "DIGEST_HEX_LENGTH",
    "Element",
    "LinkJoin",
    "canonical_value",
    "digest_of",
    "digest_of_bytes",
    "key_text",
    "link_digest",
    "link_element",
    "link_join",
    "row_digest",
    "transaction_element",
    "version_element",
    "version_table",
]

# Element kinds, in manifest order.
TRANSACTION_ELEMENT = "T"
VERSION_ELEMENT = "V"
LINK_ELEMENT = "L"
_KIND_ORDER = {TRANSACTION_ELEMENT: 0, VERSION_ELEMENT: 1, LINK_ELEMENT: 2}
# Digests are truncated to 128 bits: still beyond any second-preimage search,
# half the size in every manifest.
DIGEST_HEX_LENGTH = 32


class Element(NamedTuple):
    """One sealed thing: a transaction row, a version row, or a validity link."""

    kind: str
    table: str
    key: str  # the row key as canonical JSON text; "" for a transaction
    transaction_id: int
    digest: str

    @property
    def identity(self) -> tuple[str, str, str, int]:
        return (self.kind, self.table, self.key, self.transaction_id)

    def sort_key(self) -> tuple[int, str, int, str]:
        return (_KIND_ORDER[self.kind], self.table, self.transaction_id, self.key)


def canonical_value(value: Any) -> Any:
    """A stored value as JSON can carry it, the same for the same stored value
    whatever the session (aware timestamps in UTC, bytes as base64)."""
    if type(value) in _PLAIN or value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    return str(value)


# One encoder each, built once: json.dumps builds a new one per call when given options.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_KEY = json.JSONEncoder(separators=(",", ":"))
_PLAIN = (int, str)
_PLAIN_ROW = frozenset({int, str, type(None)})


def _serialise(data: Any) -> bytes:
    return _CANONICAL.encode(data).encode()


def digest_of_bytes(serialised: bytes) -> str:
    """The (truncated) SHA-256 of a serialisation."""
    return hashlib.sha256(serialised).hexdigest()[:DIGEST_HEX_LENGTH]


def digest_of(data: Any) -> str:
    """The (truncated) SHA-256 of ``data``'s canonical JSON."""
    return digest_of_bytes(_serialise(data))


def row_digest(names: Sequence[str], values: Sequence[Any]) -> str:
    """The digest of a row: the canonical JSON of its non-NULL values by
    column name, ``names`` in sorted order. A row of integers (of 64 bits,
    as every driver returns them) and texts only is written by orjson,
    exactly the encoder's bytes for those values (the tests compare every
    code point) in a tenth of the time; any other row by the encoder."""
    pairs = zip(names, values, strict=True)
    if _PLAIN_ROW.issuperset(map(type, values)):
        return digest_of_bytes(orjson.dumps({n: v for n, v in pairs if v is not None}))
    return digest_of({n: canonical_value(v) for n, v in pairs if v is not None})


def key_text(values: Sequence[Any]) -> str:
    """A row key as canonical JSON text, the form elements and reports use."""
    if len(values) == 1 and type(values[0]) is int:
        return f"[{values[0]}]"  # the common case, exactly what the encoder writes
    return _KEY.encode([canonical_value(v) for v in values])


def _row_digest(row: Mapping[str, Any] | sa.RowMapping, skip: str | None = None) -> str:
    names = sorted(name for name in row.keys() if name != skip)  # noqa: SIM118 (a RowMapping)
    return row_digest(names, [row[name] for name in names])


def version_table(entry: VersionedTable) -> sa.TableClause:
    """``entry``'s version table with every versioned and metadata column, untyped
    (values are sealed as the driver returns them)."""
    return sa.table(
        entry.version_table,
        *(sa.column(name) for name in entry.column_names),
        sa.column("transaction_id"),
        sa.column("end_transaction_id"),
        sa.column("operation_type"),
        schema=entry.audit_schema,
    )


@dataclass(frozen=True)
class LinkJoin:
    """Where the links set by a range of transactions come from: each version
    the range wrote (``closing``) joined to the version of the same key it
    closed (``closed``), the one whose ``end_transaction_id`` is its
    transaction."""

    closed: sa.FromClause
    joined: sa.Join
    in_range: sa.ColumnElement[bool]


def link_join(
    entry: VersionedTable, after: sa.ColumnElement[int], through: sa.ColumnElement[int]
) -> LinkJoin:
    """:class:`LinkJoin` of ``entry`` for the transactions with ids in ``(after, through]``."""
    closing = version_table(entry).alias("closing")
    closed = version_table(entry).alias("closed")
    joined = closing.join(
        closed,
        sa.and_(
            *(closed.c[name] == closing.c[name] for name in entry.key),
            closed.c.end_transaction_id == closing.c.transaction_id,
        ),
    )
    in_range = sa.and_(closing.c.transaction_id > after, closing.c.transaction_id <= through)
    return LinkJoin(closed, joined, in_range)


def version_element(entry: VersionedTable, row: Mapping[str, Any] | sa.RowMapping) -> Element:
    """The element of one version row (as :func:`version_table` reads it)."""
    return Element(
        VERSION_ELEMENT,
        entry.table,
        key_text([row[name] for name in entry.key]),
        int(row["transaction_id"]),
        _row_digest(row, skip="end_transaction_id"),
    )


def transaction_element(row: Mapping[str, Any] | sa.RowMapping) -> Element:
    """The element of one transaction row (every column of the transaction table)."""
    return Element(TRANSACTION_ELEMENT, "", "", int(row["id"]), _row_digest(row))


def link_element(
    entry: VersionedTable, key: Sequence[Any], row: Mapping[str, Any] | sa.RowMapping
) -> Element:
    """The link element of a closed version row (``transaction_id`` and
    ``end_transaction_id`` of the version it closed)."""
    closed, closer = int(row["transaction_id"]), int(row["end_transaction_id"])
    return Element(
        LINK_ELEMENT,
        entry.table,
        key_text(key),
        closed,
        link_digest(closed, closer),
    )


def link_digest(closed: int, closer: int) -> str:
    """The digest of a validity link: of the canonical JSON of
    ``{"closed": closed, "closed_by": closer}``, written out."""
    return digest_of_bytes(b'{"closed":%d,"closed_by":%d}' % (closed, closer))
