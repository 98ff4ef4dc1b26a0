"""Capture specs and version tables built from a live table's real columns.

``audittrail adopt`` takes over tables this project did not create: their
history must cover every column they really have (an Open Event Server
``sessions`` table has ``website``, ``average_rating``, … that the models do
not declare), so the spec and the version table come from the database
catalog, not from the models.
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.capture.spec import CaptureSpec, ParentStamp, quote
from auditd.errors import CaptureError

STAMP_COLUMN = "last_modified_at"


def live_spec(
    connection: sa.Connection, table: str, *, parents: tuple[ParentStamp, ...] = ()
) -> CaptureSpec:
    """The spec of ``table`` as it is now: every column but ``last_modified_at``
    is versioned, in table order; ``last_modified_at`` (if present) is stamped.

    Raises :class:`CaptureError` for a table without a primary key.
    """
    inspector = sa.inspect(connection)
    live = [c["name"] for c in inspector.get_columns(table)]
    key = tuple(inspector.get_pk_constraint(table)["constrained_columns"] or ())
    if not key:
        raise CaptureError(
            f"table {table} has no primary key",
            "history needs a key to tell rows apart; add a primary key and run adopt again",
        )
    return CaptureSpec(
        table=table,
        key=key,
        columns=tuple(c for c in live if c != STAMP_COLUMN),
        stamp_column=STAMP_COLUMN if STAMP_COLUMN in live else None,
        text_compare=_text_compared(connection, table),
        parents=parents,
    )


def ensure_stamp_column(connection: sa.Connection, table: str) -> bool:
    """Add a nullable ``last_modified_at`` to ``table`` if it has none; True if
    added. Raises :class:`CaptureError` for a PostgreSQL column without time
    zone (the triggers write absolute instants)."""
    columns = {c["name"]: c for c in sa.inspect(connection).get_columns(table)}
    if STAMP_COLUMN in columns:
        timezone = getattr(columns[STAMP_COLUMN]["type"], "timezone", False)
        if connection.dialect.name == "postgresql" and not timezone:
            raise CaptureError(
                f"{table}.{STAMP_COLUMN} is a timestamp without time zone",
                f"convert it first: ALTER TABLE {table} ALTER COLUMN {STAMP_COLUMN}"
                f" TYPE timestamptz USING {STAMP_COLUMN} AT TIME ZONE 'UTC'",
            )
        return False
    kind = "timestamp with time zone" if connection.dialect.name == "postgresql" else "DATETIME"
    connection.exec_driver_sql(
        f"ALTER TABLE {quote(table)} ADD COLUMN {quote(STAMP_COLUMN)} {kind}"
    )
    return True


def column_types(connection: sa.Connection, table: str) -> dict[str, str]:
    """Column name -> its exact declared type, as DDL text."""
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            sa.text(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = to_regclass(:t) AND attnum > 0 AND NOT attisdropped"
            ),
            {"t": quote(table)},
        )
    else:
        rows = connection.execute(
            sa.text("SELECT name, type FROM pragma_table_info(:t)"), {"t": table}
        )
    return {name: kind for name, kind in rows}


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


def _text_compared(connection: sa.Connection, table: str) -> frozenset[str]:
    if connection.dialect.name != "postgresql":
        return frozenset()
    rows = connection.execute(sa.text(_TEXT_COMPARED), {"t": quote(table)})
    return frozenset(name for (name,) in rows) - {STAMP_COLUMN}


def create_version_table(connection: sa.Connection, spec: CaptureSpec) -> None:
    """Continuum's shape: the versioned columns with their exact types
    (nullable but the key), ``transaction_id``, ``end_transaction_id``,
    ``operation_type``; key + ``transaction_id`` as primary key; indexed like
    the models' version tables (:mod:`auditd.versioning`): by
    ``transaction_id``, and by (parent column, ``transaction_id``) for each
    parent stamp. The predecessor index is added with the triggers."""
    types = column_types(connection, spec.table)
    version = spec.version_table
    keys = [quote(k) for k in spec.key]
    definitions = [
        f"{quote(c)} {types[c]}" + (" NOT NULL" if c in spec.key else "") for c in spec.columns
    ]
    definitions += [
        "transaction_id BIGINT NOT NULL",
        "end_transaction_id BIGINT",
        "operation_type SMALLINT NOT NULL",
        f"CONSTRAINT {quote('pk_' + version)} PRIMARY KEY ({', '.join(keys)}, transaction_id)",
    ]
    connection.exec_driver_sql(f"CREATE TABLE {quote(version)} ({', '.join(definitions)})")
    indexes = {"transaction_id": ["transaction_id"]}
    for parent in spec.parents:
        indexes[parent.column] = [quote(parent.column), "transaction_id"]
    for suffix, columns in indexes.items():
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {quote(f'ix_{version}_{suffix}')}"
            f" ON {quote(version)} ({', '.join(columns)})"
        )


def add_version_columns(connection: sa.Connection, spec: CaptureSpec) -> tuple[str, ...]:
    """Add the columns the table gained since its version table was made;
    returns their names (history covers them from now on)."""
    versioned = {c["name"] for c in sa.inspect(connection).get_columns(spec.version_table)}
    missing = tuple(c for c in spec.columns if c not in versioned)
    types = column_types(connection, spec.table) if missing else {}
    for column in missing:
        connection.exec_driver_sql(
            f"ALTER TABLE {quote(spec.version_table)} ADD COLUMN {quote(column)} {types[column]}"
        )
    return missing
