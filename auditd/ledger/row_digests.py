"""Row digests computed by PostgreSQL: :mod:`auditd.ledger.canonical`'s
serialisation of a row, written in SQL, so that sealing and verification
fetch 32 hex characters per row instead of the row.

The SQL text is byte for byte what the Python path serialises for the same
stored row (a JSON object of the non-NULL columns, keys sorted, no spaces,
timestamps in UTC), so a block sealed by either path verifies by either.
That holds only for the column types whose text form both sides agree on
(integers, booleans, text, timestamps, dates): a row with a non-NULL value
of any other type (``jsonb``, ``numeric``, floats, ...) is left to the
Python path, which reads it whole (:func:`digest_columns` says which rows).
The session's ``TimeZone`` and ``DateStyle`` cannot change the text: every
timestamp is formatted explicitly, in UTC.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from auditd.models.namespace import qualify

__all__ = ["INTEGER_TYPES", "DigestColumns", "column_types", "digest_columns", "link_digest"]

# PostgreSQL's function argument limit is 100; members are joined in chunks.
_CHUNK = 90
INTEGER_TYPES = frozenset({"int2", "int4", "int8"})
_TEXTS = {"text", "varchar"}


@dataclass(frozen=True)
class DigestColumns:
    """For one table read: the server-side digest of a row, and the condition
    under which it equals the Python path's (None: always)."""

    digest: sa.ColumnElement[str]
    servable: sa.ColumnElement[bool] | None


def column_types(
    connection: sa.Connection, tables: Iterable[tuple[str | None, str]]
) -> dict[tuple[str | None, str], dict[str, str]]:
    """The base type name of every column of each ``(schema, table)``, one
    catalog query for all; a domain, enum or array type is named as such
    (none of them is served)."""
    tables = list(tables)
    query = sa.text(
        "SELECT r.name, a.attname,"
        " CASE WHEN t.typtype = 'b' AND t.typcategory <> 'A' THEN t.typname ELSE '' END"
        " FROM unnest(CAST(:names AS text[])) AS r(name)"
        " JOIN pg_catalog.pg_attribute AS a ON a.attrelid = to_regclass(r.name)"
        " JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid"
        " WHERE a.attnum > 0 AND NOT a.attisdropped"
    )
    found: dict[str, dict[str, str]] = {}
    qualified = [qualify(schema, table) for schema, table in tables]
    for name, column, type_name in connection.execute(query, {"names": qualified}):
        found.setdefault(name, {})[column] = type_name
    return {table: found.get(name, {}) for table, name in zip(tables, qualified, strict=True)}


def _utc_text(column: sa.ColumnElement[object], *, aware: bool) -> sa.ColumnElement[str]:
    """``datetime.isoformat()`` of the value: microseconds only when non-zero,
    ``+00:00`` for an aware timestamp (converted to UTC first)."""
    moment = sa.func.timezone("UTC", column) if aware else column
    text = sa.func.to_char(moment, 'YYYY-MM-DD"T"HH24:MI:SS.US')
    # The fixed format can hold ".000000" only as its fraction.
    return sa.func.replace(text, ".000000", "") + ("+00:00" if aware else "")


def _json_value(column: sa.ColumnElement[object], type_name: str) -> sa.ColumnElement[str] | None:
    """The JSON text the Python path writes for a non-NULL value of this
    type, or None when the type is not served."""
    if type_name in INTEGER_TYPES:
        return sa.cast(column, sa.Text)
    if type_name == "bool":
        return sa.case((column.is_(sa.true()), "true"), else_="false")
    if type_name in _TEXTS:
        # to_json escapes exactly as Python's encoder (ensure_ascii off) does.
        return sa.cast(sa.func.to_json(column), sa.Text)
    if type_name == "timestamptz":
        return '"' + _utc_text(column, aware=True) + '"'
    if type_name == "timestamp":
        return '"' + _utc_text(column, aware=False) + '"'
    if type_name == "date":
        return '"' + sa.func.to_char(column, "YYYY-MM-DD") + '"'
    return None


def digest_columns(
    columns: Mapping[str, sa.ColumnElement[object]],
    types: Mapping[str, str],
    digest_length: int,
) -> DigestColumns:
    """The digest of the row made of ``columns`` (name → column of the
    query's table), given their PostgreSQL ``types``."""
    members: list[sa.ColumnElement[str]] = []
    unserved: list[sa.ColumnElement[object]] = []
    for name in sorted(columns):
        column = columns[name]
        value = _json_value(column, types.get(name, ""))
        if value is None:
            unserved.append(column)
            continue
        members.append(sa.case((column.is_not(None), json.dumps(name) + ":" + value)))
    digest = _digest("{" + _joined(members) + "}", digest_length)
    servable = sa.and_(*(column.is_(None) for column in unserved)) if unserved else None
    return DigestColumns(digest=digest, servable=servable)


def _joined(members: Sequence[sa.ColumnElement[str]]) -> sa.ColumnElement[str]:
    """``members`` joined by commas, NULLs (absent columns) left out."""
    if len(members) <= _CHUNK:
        return sa.func.concat_ws(",", *members) if members else sa.literal("")
    chunks = [
        sa.func.nullif(sa.func.concat_ws(",", *members[i : i + _CHUNK]), "")
        for i in range(0, len(members), _CHUNK)
    ]
    return sa.func.concat_ws(",", *chunks)


def link_digest(
    closed: sa.ColumnElement[int], closer: sa.ColumnElement[int], digest_length: int
) -> sa.ColumnElement[str]:
    """The digest of a validity link, as :func:`auditd.ledger.canonical.link_digest`
    serialises it."""
    text = '{"closed":' + sa.cast(closed, sa.Text) + ',"closed_by":' + sa.cast(closer, sa.Text)
    return _digest(text + "}", digest_length)


def _digest(text: sa.ColumnElement[str], digest_length: int) -> sa.ColumnElement[str]:
    """The truncated hex SHA-256 of ``text``'s UTF-8 bytes (truncated before
    hex-encoding: half the encoding work)."""
    digest = sa.func.sha256(sa.func.convert_to(text, "UTF8"))
    return sa.func.encode(sa.func.substr(digest, 1, digest_length // 2), "hex")
