"""The fast digests give exactly the digests the exact Python path computes.

A block sealed with PostgreSQL's server-side digests, or by SQLite's reads
of raw rows, must verify with the exact path's and the other way round: on
PostgreSQL whatever the session's time zone and whatever look-alike
functions a schema on the search path holds, on SQLite whatever type each
stored value has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from test_daemon_support import quick_write
from test_history_support import wait_for_horizon
from test_ledger_support import SESSION_VERSION, Sealed, last_transaction_id, sealed

from auditd.ledger.block_reads import BlockContent, read_block
from auditd.ledger.blocks import LEDGER_START
from auditd.ledger.canonical import DIGEST_HEX_LENGTH, canonical_value, digest_of, row_digest
from auditd.ledger.row_digests import column_types, digest_columns
from auditd.models import Session
from auditd.models.audit import TRANSACTION
from auditd.registry import load

__all__ = ["sealed"]

STRINGS = [
    "",
    "plain",
    'quote " and backslash \\ and slash /',
    "line\nbreak\r\ttab\bbackspace\fform feed",
    "control \x01 \x1f and delete \x7f",
    "é, ß, 東京, emoji 🎤",
    "\u2028 line separator \u2029",
]
MOMENTS = [
    datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC),  # no microseconds: none written
    datetime(2026, 12, 2, 12, 0, 0, 1, tzinfo=UTC),
    datetime(1969, 7, 20, 20, 17, 40, 500000, tzinfo=UTC),
    datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
SCRATCH = sa.table(
    "digest_scratch",
    *(
        sa.column(name)
        for name in ("i", "big", "small", "t", "v", "f", "ts", "naive", "d", "j", "n", "z")
    ),
)


def _scratch_rows(connection: sa.Connection) -> None:
    connection.exec_driver_sql(
        "CREATE TABLE digest_scratch (i int4, big int8, small int2, t text, v varchar(80),"
        " f boolean, ts timestamptz, naive timestamp, d date, j jsonb, n numeric, z float8)"
    )
    rows = []
    for number, text in enumerate(STRINGS):
        moment = MOMENTS[number % len(MOMENTS)]
        rows.append(
            {
                "i": number - 3,
                "big": -(2**62) + number,
                "small": number,
                "t": text,
                "v": text[:80],
                "f": number % 2 == 0,
                "ts": moment,
                "naive": moment.replace(tzinfo=None),
                "d": moment.date(),
                "j": None,
                "n": None,
                "z": None,
            }
        )
    rows.append(dict.fromkeys(rows[0]))  # every column NULL
    rows.append({**rows[1], "t": None, "ts": None})
    # Values of types the server does not serialise like Python: left to Python.
    rows.append({**rows[2], "j": '{"b": 1, "a": [1.5, "x"]}'})
    rows.append({**rows[3], "n": "0.0000001"})
    rows.append({**rows[4], "z": 100.0})
    connection.execute(
        sa.text(
            "INSERT INTO digest_scratch VALUES (:i, :big, :small, :t, :v, :f, :ts, :naive, :d,"
            " CAST(:j AS jsonb), CAST(:n AS numeric), :z)"
        ),
        rows,
    )


@pytest.mark.postgresql_only
def test_the_server_digests_each_served_row_exactly_as_python_does(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        _scratch_rows(connection)
        # The session's time zone (an offset of -03:30 here) may not show in a digest.
        connection.exec_driver_sql("SET LOCAL TimeZone = 'America/St_Johns'")
        (types,) = column_types(connection, [(None, "digest_scratch")]).values()
        server = digest_columns({c.name: c for c in SCRATCH.c}, types, DIGEST_HEX_LENGTH)
        assert server.servable is not None
        rows = connection.execute(
            sa.select(SCRATCH, server.digest.label("digest"), server.servable.label("served"))
        ).mappings()
        served = left = 0
        for row in rows:
            values = {name: row[name] for name in SCRATCH.c.keys()}  # noqa: SIM118
            python = digest_of({k: canonical_value(v) for k, v in values.items() if v is not None})
            if row["served"]:
                served += 1
                assert row["digest"] == python, values
            else:
                left += 1
                assert any(values[name] is not None for name in ("j", "n", "z")), values
    assert (served, left) == (len(STRINGS) + 2, 3)


def test_a_row_digest_is_the_encoders_for_every_code_point_and_value_type() -> None:
    """orjson, not the canonical encoder, writes rows of integers and texts:
    the same bytes for every text and every 64-bit integer. Any other value
    takes the encoder, as canonical_value gives it."""
    texts = [
        "".join(chr(c) for c in range(start, start + 256) if not 0xD800 <= c < 0xE000)
        for start in range(0, 0x110000, 256)
    ]
    integers = [0, 1, -1, 2**31, 2**63 - 1, -(2**63)]
    others = [None, 2.5, 100.0, b"\x00\xff", True, Decimal("0.0000001"), MOMENTS[1]]
    for number, text in enumerate(texts):
        members = {
            "a": text,
            "b": integers[number % len(integers)],
            "c": others[number % len(others)],
            "t": STRINGS[number % len(STRINGS)],
        }
        expected = digest_of({k: canonical_value(v) for k, v in members.items() if v is not None})
        assert row_digest(list(members), list(members.values())) == expected, hex(number * 256)


SQLITE_TIMES = (
    # The form SQLAlchemy and the capture triggers write, rewritten as text.
    "2026-12-02 12:00:00.000000",  # no fraction in isoformat()
    "2026-12-02 12:00:00.000001",
    "1969-07-20 20:17:40.500000",
    # Forms SQLite or another tool may write: read as the exact path reads them.
    "2026-12-02 12:00:00",
    "2026-12-02T12:00:00.000000",
    "2026-12-02 12:00:00.000000+00:00",
)


@pytest.mark.sqlite_only
def test_sqlite_reads_every_stored_value_as_the_exact_path_does(engine: sa.Engine) -> None:
    """SQLite types values, not columns: any column may hold any type, and a
    transaction time any text. Every row reads as the exact path reads it."""
    first = 10**9
    times = SQLITE_TIMES
    with engine.begin() as connection:
        connection.execute(  # as stored, past the column's type
            sa.text(
                f"INSERT INTO {TRANSACTION.name} (id, issued_at, actor, origin)"
                " VALUES (:id, :at, 'alice', 'cli')"
            ),
            [{"id": first + n, "at": at} for n, at in enumerate(times)],
        )
        texts = [*STRINGS, "nul \x00 inside", "12"]
        values: list[tuple[object, object, object]] = [(n, text, n) for n, text in enumerate(texts)]
        values += [
            (100, None, None),  # every value NULL
            (101, "a", "text in an integer column"),
            (102, "a", 2**63 - 1),
            (103, "a", -(2**63)),
            (104, "a", 2.5),  # a float: the exact path writes it its own way
            (105, b"\x00\xff", 1),  # a blob
            (1.25, "a float key", 1),
            ("k", 'a text key "quoted"', 1),
        ]
        rows = [
            {
                "id": key,
                "title": title,
                "track_id": track,
                "transaction_id": first + number % len(times),
                "operation_type": 1,
            }
            for number, (key, title, track) in enumerate(values)
        ]
        # Two versions closed by later ones, one with a text key.
        closed = [
            {**row, "transaction_id": first, "end_transaction_id": row["transaction_id"]}
            for row in rows
            if row["id"] in (3, "k")
        ]
        connection.execute(sa.insert(SESSION_VERSION), rows)
        connection.execute(sa.insert(SESSION_VERSION), closed)
        rows += closed
        closing = first + len(times) - 1
    with engine.connect() as connection:
        entries = load(connection).entries
        by_sqlite = read_block(connection, entries, first - 1, closing)
        exact = read_block(connection, entries, first - 1, closing, server_digests=False)
    assert (by_sqlite.transaction_count, by_sqlite.version_count) == (len(times), len(rows))
    links = [element.key for element in by_sqlite.elements() if element.kind == "L"]
    assert sorted(links) == ['["k"]', "[3]"]
    assert by_sqlite == exact


def _everything(connection: sa.Connection, *, server_digests: bool) -> BlockContent:
    return read_block(
        connection, load(connection).entries, LEDGER_START, 2**62, server_digests=server_digests
    )


def test_server_and_python_digests_give_the_same_blocks(sealed: Sealed) -> None:
    with quick_write(sealed.engine) as connection:  # a row the server leaves to Python
        connection.execute(
            sa.update(Session.__table__)
            .where(Session.__table__.c.id == sealed.talk)
            .values(complex_field_values={"room": "B", "seats": 40.5})
        )
    last = last_transaction_id(sealed.engine)
    if sealed.engine.dialect.name == "sqlite":
        # Values SQLite leaves to Python: a blob, and a float where an integer is declared.
        with sealed.engine.begin() as connection:
            connection.execute(
                sa.text(
                    f"INSERT INTO {SESSION_VERSION.name} (id, title, track_id, transaction_id,"
                    " operation_type) VALUES (:id, :title, :track, :tx, 0)"
                ),
                [
                    {"id": 10**6, "title": b"\x00\xff", "track": None, "tx": last},
                    {"id": 10**6 + 1, "title": "float", "track": 2.5, "tx": last},
                ],
            )
    wait_for_horizon(sealed.engine, last)
    with sealed.engine.connect() as connection:
        by_server = _everything(connection, server_digests=True)
        by_python = _everything(connection, server_digests=False)
    assert {element.kind for element in by_server.elements()} == {"T", "V", "L"}
    assert by_server == by_python


def test_a_table_whose_rows_the_server_all_leaves_to_python_reads_the_same(
    sealed: Sealed,
) -> None:
    # One transaction, one version, and on PostgreSQL a value it does not
    # serialise (jsonb): the block's part of that table has no served line.
    before = last_transaction_id(sealed.engine)
    with quick_write(sealed.engine) as connection:
        connection.execute(
            sa.update(Session.__table__)
            .where(Session.__table__.c.id == sealed.talk)
            .values(complex_field_values={"seats": 40.5})
        )
    last = last_transaction_id(sealed.engine)
    wait_for_horizon(sealed.engine, last)
    with sealed.engine.connect() as connection:
        entries = load(connection).entries
        by_server = read_block(connection, entries, before, last)
        by_python = read_block(connection, entries, before, last, server_digests=False)
    assert (by_server.transaction_count, by_server.version_count) == (1, 1)
    assert {element.kind for element in by_server.elements()} == {"T", "V", "L"}
    assert by_server == by_python


@pytest.mark.postgresql_only
def test_look_alike_functions_on_the_search_path_change_no_digest(sealed: Sealed) -> None:
    with sealed.engine.connect() as connection:
        expected = _everything(connection, server_digests=False)
    with sealed.engine.begin() as connection:
        # An exact-type match in a schema searched before pg_catalog would win
        # over pg_catalog's to_json(anyelement) and sha256(bytea) if the
        # search path were the session's.
        connection.exec_driver_sql(
            "CREATE FUNCTION public.to_json(character varying) RETURNS json"
            " LANGUAGE sql AS $$ SELECT '\"forged\"'::json $$"
        )
        connection.exec_driver_sql(
            "CREATE FUNCTION public.sha256(bytea) RETURNS bytea"
            " LANGUAGE sql AS $$ SELECT '\\x00'::bytea $$"
        )
        connection.exec_driver_sql("SET LOCAL search_path = public, pg_catalog")
        assert connection.scalar(sa.text("SELECT to_json(CAST('x' AS varchar))")) == "forged"
        assert _everything(connection, server_digests=True) == expected
        # ... and the session's own search path is back afterwards.
        assert connection.scalar(sa.text("SELECT current_setting('search_path')")) == (
            "public, pg_catalog"
        )
