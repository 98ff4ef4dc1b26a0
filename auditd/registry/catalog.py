"""Reads of the database catalog: which tables exist, their columns, types and keys.

``audittrail adopt`` takes over tables this project did not create, and a
migrated table may have gained columns since: the registry is built from
what the catalog says, not from what the models declare.
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.models.namespace import qualify


def table_names(connection: sa.Connection, schema: str | None = None) -> set[str]:
    """The tables of ``schema`` (default: the connection's default schema)."""
    return set(sa.inspect(connection).get_table_names(schema=schema))


def column_types(
    connection: sa.Connection, table: str, schema: str | None = None
) -> dict[str, str]:
    """Column name -> its exact declared type, as DDL text, in table order."""
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            sa.text(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = to_regclass(:t) AND attnum > 0 AND NOT attisdropped"
                " ORDER BY attnum"
            ),
            {"t": qualify(schema, table)},
        )
    else:
        rows = connection.execute(
            sa.text("SELECT name, type FROM pragma_table_info(:t) ORDER BY cid"), {"t": table}
        )
    return {name: kind for name, kind in rows}


def primary_key(
    connection: sa.Connection, table: str, schema: str | None = None
) -> tuple[str, ...]:
    """The primary key columns of ``table`` (empty if it has none)."""
    constraint = sa.inspect(connection).get_pk_constraint(table, schema=schema)
    return tuple(constraint["constrained_columns"] or ())


# Columns whose type (or array element type, or domain base type) has no
# equality operator of its own or of a type it is binary-coercible to (json,
# xml, point, ...): the PostgreSQL triggers compare them as text. Harmless
# extra entries (enums, ranges) only cost a cast.
_TEXT_COMPARED = """
WITH cols AS (
    SELECT a.attname,
           CASE WHEN bt.typcategory = 'A' THEN bt.typelem ELSE bt.oid END AS compared
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
     WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 AND NOT a.attisdropped)
SELECT c.attname FROM cols c
 WHERE NOT EXISTS (
       SELECT 1 FROM pg_operator o
        WHERE o.oprname = '=' AND o.oprleft = o.oprright
          AND (o.oprleft = c.compared
               OR EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = c.compared
                          AND k.casttarget = o.oprleft AND k.castmethod = 'b')))
"""


def text_compared(
    connection: sa.Connection, table: str, schema: str | None = None
) -> frozenset[str]:
    """The columns of ``table`` that PostgreSQL cannot compare with ``=``
    (none on SQLite, where every value compares)."""
    if connection.dialect.name != "postgresql":
        return frozenset()
    rows = connection.execute(sa.text(_TEXT_COMPARED), {"t": qualify(schema, table)})
    return frozenset(name for (name,) in rows)
