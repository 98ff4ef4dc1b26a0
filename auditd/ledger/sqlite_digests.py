"""Row digests computed inside SQLite: :mod:`auditd.ledger.canonical`'s
serialisation of a row, written in SQL, hashed by a function registered on
the connection, so that sealing and verification fetch one manifest line
per row instead of the row and build no Python objects for its values.

The text is byte for byte what the Python path serialises for the same
stored row (a JSON object of the non-NULL columns, keys sorted, no spaces),
as :mod:`auditd.ledger.row_digests` does on PostgreSQL. SQLite types values,
not columns, so the condition is per value: integers and text (``json_object``
escapes text exactly as Python's encoder does with ``ensure_ascii`` off) are
served; a row holding a float or a blob is left to the Python path. A
timestamp column of our own models (the transaction's ``issued_at``) is read
by the Python path as a datetime: it is served only in the one text form
SQLite and SQLAlchemy write (``YYYY-MM-DD HH:MM:SS.ffffff``), rewritten as
``datetime.isoformat()`` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from auditd.ledger.canonical import digest_text
from auditd.timestamps import UTCDateTime

__all__ = ["key_conditions", "link_digest", "register", "row_digest"]

DIGEST_FUNCTION = "audittrail_digest"
# The stored text form of a UTCDateTime, the only one served.
_STORED_MOMENT = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]." + (
    "[0-9]" * 6
)


# Names and values per json_object call: SQLite takes at most 127 arguments.
_ARGUMENTS_PER_CALL = 120


def register(connection: sa.Connection) -> None:
    """Make :data:`DIGEST_FUNCTION` callable on ``connection``'s SQLite
    connection, once: SQLite refuses to (re)define a function while a
    statement of the connection is active."""
    pooled = connection.connection
    if pooled.info.get(DIGEST_FUNCTION):
        return
    raw = pooled.driver_connection
    raw.create_function(DIGEST_FUNCTION, 1, digest_text, deterministic=True)  # type: ignore[union-attr]
    pooled.info[DIGEST_FUNCTION] = True


def _digest(text: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The digest of ``text``, as :func:`auditd.ledger.canonical.digest_text` computes it."""
    return sa.func.audittrail_digest(text, type_=sa.String)  # DIGEST_FUNCTION


def _moment(column: sa.ColumnElement[object]) -> sa.ColumnElement[str]:
    """``datetime.isoformat()`` of an aware UTC value stored as ``_STORED_MOMENT``."""
    text = sa.func.substr(column, 1, 10) + "T" + sa.func.substr(column, 12)
    return sa.func.replace(text, ".000000", "", type_=sa.String) + "+00:00"


def _value(
    column: sa.ColumnElement[object],
) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[bool]]:
    """(the column's value as the JSON text holds it, when it is served)."""
    if isinstance(column.type, UTCDateTime):
        # The pattern is bound as text, not through the column's type.
        stored = column.op("GLOB")(sa.literal(_STORED_MOMENT, sa.String))
        return _moment(column), sa.or_(column.is_(None), stored)
    return column, sa.func.typeof(column).in_(("integer", "text", "null"))


def row_digest(
    columns: Mapping[str, sa.ColumnElement[Any]], keys: Sequence[sa.ColumnElement[Any]]
) -> tuple[sa.ColumnElement[str], sa.ColumnElement[bool]]:
    """The digest of the row made of ``columns`` (name → column of the query's
    table, ``keys`` among them), and the condition under which it is the
    Python path's and SQL may write its key."""
    arguments: list[sa.ColumnElement[Any]] = []
    conditions = key_conditions(keys)
    for name in sorted(columns):
        value, served = _value(columns[name])
        arguments += [sa.literal(name, sa.String), value]
        conditions.append(served)
    # json_object writes the members in order, in C (the same text built
    # member by member with CASE and || took a quarter longer); json_patch
    # into an empty object drops the NULL members and keeps the order of the
    # rest.
    text: sa.ColumnElement[str] = sa.literal("{}", sa.String)
    for start in range(0, len(arguments), _ARGUMENTS_PER_CALL):
        members = sa.func.json_object(*arguments[start : start + _ARGUMENTS_PER_CALL])
        text = sa.func.json_patch(text, members, type_=sa.String)
    return _digest(text), sa.and_(*conditions)


def key_conditions(keys: Sequence[sa.ColumnElement[Any]]) -> list[sa.ColumnElement[bool]]:
    """When SQL may write the key text of these key values: integers only,
    whose JSON needs no escaping (on PostgreSQL the column types say so)."""
    return [sa.func.typeof(key) == "integer" for key in keys]


def link_digest(
    closed: sa.ColumnElement[int], closer: sa.ColumnElement[int]
) -> sa.ColumnElement[str]:
    """The digest of a validity link, as :func:`auditd.ledger.canonical.link_digest_text`
    serialises it."""
    text = '{"closed":' + sa.cast(closed, sa.Text) + ',"closed_by":' + sa.cast(closer, sa.Text)
    return _digest(text + "}")
