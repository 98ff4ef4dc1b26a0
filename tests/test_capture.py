"""The capture triggers version every write, whoever makes it, exactly once.

Raw SQL (through SQLAlchemy and through the bare DBAPI driver), bulk and
multi-row statements, upserts, autocommit writers and ORM sessions all get
Continuum-shaped version rows with the right operation type, an intact
validity chain, attribution and a ``last_modified_at`` stamped in the same
statement; no-ops leave no trace.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import audit_names
import psycopg2
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import orm

from auditd import capture, db
from auditd.capture.attribution import (
    AuditSession,
    audit_context,
    publish_context,
    session_factory,
)
from auditd.models import Event, Session, Speaker, Transaction
from auditd.stamps.derive import derive_last_modified

INSERT, UPDATE, DELETE = 0, 1, 2
Sessions = orm.sessionmaker[AuditSession]


def seed(sessions: Sessions, talks: int = 3, speakers: int = 3) -> tuple[list[int], list[int]]:
    """An event with ``talks`` sessions and ``speakers`` speakers (none assigned)."""
    with audit_context(actor="seed", origin="test"), sessions.begin() as session:
        event = Event(name="Conf")
        rows = [Session(title=f"Talk {i}", event=event) for i in range(talks)]
        people = [Speaker(name=f"Speaker {i}", event=event) for i in range(speakers)]
        session.add_all([*rows, *people])
    return [r.id for r in rows], [p.id for p in people]


def seed_with_a_speaker(sessions: Sessions, talks: int) -> list[int]:
    """:func:`seed`, with the first speaker assigned to the first talk; the talk ids."""
    ids, people = seed(sessions, talks=talks)
    with sessions.begin() as session:
        talk = session.get_one(Session, ids[0])
        talk.speakers.append(session.get_one(Speaker, people[0]))
    return ids


def versions(engine: sa.Engine, table: str, where: str = "1 = 1") -> list[dict[str, Any]]:
    """Version rows of ``table`` (as dicts) in chain order per key."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                f"SELECT * FROM {audit_names.versions(connection, table)}"
                f" WHERE {where} ORDER BY transaction_id"
            )
        )
        return [dict(row._mapping) for row in rows]


def transactions(engine: sa.Engine) -> list[dict[str, Any]]:
    table = Transaction.__table__
    with engine.connect() as connection:
        return [
            dict(row._mapping) for row in connection.execute(sa.select(table).order_by(table.c.id))
        ]


def transaction(engine: sa.Engine, tx: int) -> dict[str, Any]:
    return next(t for t in transactions(engine) if t["id"] == tx)


def attributed_to(engine: sa.Engine, title: str) -> list[tuple[str, str]]:
    """(actor, origin) of the transaction of each session version with ``title``."""
    return [
        (record["actor"], record["origin"])
        for v in versions(engine, "sessions")
        if v["title"] == title
        for record in [transaction(engine, v["transaction_id"])]
    ]


def stored_stamp(engine: sa.Engine, talk: int) -> datetime | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(Session.last_modified_at).where(Session.id == talk)
        ).scalar_one()


def assert_chain_intact(engine: sa.Engine, table: str, key: str) -> None:
    """Per key: one current version and a linkage that visits every version once."""
    rows = versions(engine, table)
    by_key: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(row[key], []).append(row)
    for chain in by_key.values():
        assert sum(v["end_transaction_id"] is None for v in chain) == 1
        successors = {v["transaction_id"]: v for v in chain}
        first = [
            v
            for v in chain
            if not any(w["end_transaction_id"] == v["transaction_id"] for w in chain)
        ]
        assert len(first) == 1
        seen, current = 0, first[0]
        while True:
            seen += 1
            if current["end_transaction_id"] is None:
                break
            current = successors[current["end_transaction_id"]]
        assert seen == len(chain)


def _placeholders(engine: sa.Engine, sql: str) -> str:
    return sql.replace("?", "%s") if engine.url.get_backend_name() == "postgresql" else sql


@contextmanager
def dbapi_connection(
    engine: sa.Engine, *, autocommit: bool = False, application: str = "open-event-server"
) -> Iterator[Any]:
    """A bare driver connection, as another application would open it."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        connection = psycopg2.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            dbname=url.database,
            application_name=application,
        )
        connection.autocommit = autocommit
    else:
        connection = sqlite3.connect(
            str(url.database), timeout=10, isolation_level=None if autocommit else ""
        )
    try:
        yield connection
    finally:
        connection.close()


def run_dbapi(engine: sa.Engine, statements: list[tuple[str, tuple[Any, ...]]], **kw: Any) -> None:
    """Execute ``?``-style statements in one driver transaction (or autocommit)."""
    with dbapi_connection(engine, **kw) as connection:
        cursor = connection.cursor()
        for sql, params in statements:
            cursor.execute(_placeholders(engine, sql), params)
        if not kw.get("autocommit"):
            connection.commit()


def raw(engine: sa.Engine, sql: str, **params: Any) -> None:
    """One statement in its own transaction through SQLAlchemy, outside any ORM session."""
    with db.write_transaction(engine) as connection:
        connection.execute(sa.text(sql), params)


def test_raw_insert_update_delete_via_text_are_versioned_with_operation_types(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1)
    raw(
        engine,
        "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked) "
        "VALUES (900, 'Raw', 'pending', false, false)",
    )
    raw(engine, "UPDATE sessions SET title = 'Raw 2' WHERE id = 900")
    raw(engine, "DELETE FROM sessions WHERE id = 900")
    chain = versions(engine, "sessions", "id = 900")
    assert [(v["title"], v["operation_type"]) for v in chain] == [
        ("Raw", INSERT),
        ("Raw 2", UPDATE),
        ("Raw 2", DELETE),
    ]
    assert [v["end_transaction_id"] for v in chain] == [
        chain[1]["transaction_id"],
        chain[2]["transaction_id"],
        None,
    ]
    assert {transaction(engine, v["transaction_id"])["origin"] for v in chain} == {"sql"}
    assert len(versions(engine, "sessions", f"id = {talk}")) == 1


def test_bare_driver_writes_are_versioned_like_any_other(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1)
    run_dbapi(
        engine,
        [
            (
                "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked)"
                " VALUES (?, ?, ?, ?, ?)",
                (901, "Driver", "pending", False, False),
            ),
            ("UPDATE sessions SET title = ? WHERE id = ?", ("Driver talk", talk)),
        ],
    )
    run_dbapi(engine, [("DELETE FROM sessions WHERE id = ?", (901,))])
    assert [
        (v["title"], v["operation_type"]) for v in versions(engine, "sessions", "id = 901")
    ] == [("Driver", INSERT), ("Driver", DELETE)]
    assert [
        (v["title"], v["operation_type"]) for v in versions(engine, "sessions", f"id = {talk}")
    ] == [("Talk 0", INSERT), ("Driver talk", UPDATE)]
    assert_chain_intact(engine, "sessions", "id")


def test_multi_row_statement_versions_each_changed_row_once_in_one_transaction(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=4)
    raw(engine, "UPDATE sessions SET state = 'accepted' WHERE id = :id", id=talks[0])
    before = len(transactions(engine))
    raw(engine, "UPDATE sessions SET state = 'accepted'")
    changed = [v for v in versions(engine, "sessions") if v["operation_type"] == UPDATE]
    assert sorted(v["id"] for v in changed) == sorted([talks[0], *talks[1:]])
    assert len({v["transaction_id"] for v in changed if v["id"] != talks[0]}) == 1
    assert len(transactions(engine)) == before + 1
    assert_chain_intact(engine, "sessions", "id")


def test_statements_after_a_multi_row_statement_in_one_transaction_are_versioned(
    engine: sa.Engine, sessions: Sessions
) -> None:
    # PostgreSQL versions a multi-row statement set-based in its first row's
    # trigger call and lets the others return at once: the statements that
    # follow in the same transaction, of any size, must still be versioned.
    talks, _ = seed(sessions, talks=6)
    with db.write_transaction(engine) as connection:
        connection.execute(
            sa.text("UPDATE sessions SET level = 'one' WHERE id <= :id"), {"id": talks[3]}
        )
        connection.execute(
            sa.text("UPDATE sessions SET level = 'two' WHERE id = :id"), {"id": talks[4]}
        )
        connection.execute(sa.text("UPDATE sessions SET level = 'three'"))
        connection.execute(sa.text("UPDATE sessions SET level = 'three'"))  # a no-op
        connection.execute(
            sa.text("DELETE FROM sessions WHERE id IN (:a, :b)"), {"a": talks[0], "b": talks[1]}
        )
    latest = {v["id"]: v for v in versions(engine, "sessions") if v["end_transaction_id"] is None}
    assert {key: (v["level"], v["operation_type"]) for key, v in latest.items()} == {
        talks[0]: ("three", DELETE),
        talks[1]: ("three", DELETE),
        **{key: ("three", UPDATE) for key in talks[2:]},
    }
    assert_chain_intact(engine, "sessions", "id")


def test_a_multi_row_statement_that_changes_keys_is_versioned_as_deletes_and_inserts(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=3)
    raw(engine, "UPDATE sessions SET id = id + 1000, title = title || '!'")
    operations = sorted(
        (v["id"], v["operation_type"])
        for v in versions(engine, "sessions")
        if v["end_transaction_id"] is None
    )
    assert operations == sorted(
        [(key, DELETE) for key in talks] + [(key + 1000, INSERT) for key in talks]
    )
    assert_chain_intact(engine, "sessions", "id")


def test_core_bulk_statements_in_an_orm_session_are_versioned_and_attributed(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=3)
    with audit_context(actor="bulk", origin="cli", reason="bulk edit"), sessions.begin() as session:
        session.execute(sa.update(Session).where(Session.id.in_(talks[:2])).values(level="expert"))
        session.execute(
            sa.insert(Session),
            [{"id": 950 + i, "title": f"Bulk {i}", "state": "pending"} for i in range(3)],
        )
        session.execute(sa.delete(Session).where(Session.id == talks[2]))
    rows = [
        v
        for v in versions(engine, "sessions")
        if transaction(engine, v["transaction_id"])["actor"] == "bulk"
    ]
    assert sorted((v["id"], v["operation_type"]) for v in rows) == sorted(
        [
            (talks[0], UPDATE),
            (talks[1], UPDATE),
            (950, INSERT),
            (951, INSERT),
            (952, INSERT),
            (talks[2], DELETE),
        ]
    )
    (tx,) = {v["transaction_id"] for v in rows}
    assert (transaction(engine, tx)["origin"], transaction(engine, tx)["reason"]) == (
        "cli",
        "bulk edit",
    )
    assert_chain_intact(engine, "sessions", "id")


def test_upsert_versions_the_insert_and_the_update_and_nothing_for_a_noop(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1)
    upsert = (
        "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked) VALUES "
        "(:a, :title, 'pending', false, false), (:b, :title, 'pending', false, false) "
        "ON CONFLICT (id) DO UPDATE SET title = excluded.title"
    )
    raw(engine, upsert, a=talk, b=960, title="Upserted")
    upserted = [v for v in versions(engine, "sessions") if v["title"] == "Upserted"]
    assert sorted((v["id"], v["operation_type"]) for v in upserted) == [
        (talk, UPDATE),
        (960, INSERT),
    ]
    assert len({v["transaction_id"] for v in upserted}) == 1
    count, txs = len(versions(engine, "sessions")), len(transactions(engine))
    raw(engine, upsert, a=talk, b=960, title="Upserted")
    raw(
        engine,
        upsert.split(" ON CONFLICT")[0] + " ON CONFLICT (id) DO NOTHING",
        a=talk,
        b=960,
        title="X",
    )
    assert (len(versions(engine, "sessions")), len(transactions(engine))) == (count, txs)


def test_autocommit_writer_gets_one_transaction_per_statement(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2)
    before = len(transactions(engine))
    with dbapi_connection(engine, autocommit=True) as connection:
        cursor = connection.cursor()
        for talk in talks:
            cursor.execute(
                _placeholders(engine, "UPDATE sessions SET title = ? WHERE id = ?"), ("Auto", talk)
            )
    latest = [v for v in versions(engine, "sessions") if v["title"] == "Auto"]
    assert len({v["transaction_id"] for v in latest}) == 2
    assert len(transactions(engine)) == before + 2
    assert all(v["end_transaction_id"] is None for v in latest)


def test_mixed_transaction_is_one_transaction_attributed_to_the_orm_context(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2)
    before = len(transactions(engine))
    context = {"actor": "alice", "origin": "api", "reason": "fix", "remote_addr": "192.0.2.1"}
    with audit_context(**context), sessions.begin() as session:
        session.get_one(Session, talks[0]).title = "ORM"
        session.flush()
        session.execute(
            sa.text("UPDATE sessions SET title = 'Raw' WHERE id = :id"), {"id": talks[1]}
        )
    assert len(transactions(engine)) == before + 1
    changed = [v for v in versions(engine, "sessions") if v["title"] in ("ORM", "Raw")]
    (tx,) = {v["transaction_id"] for v in changed}
    record = transaction(engine, tx)
    assert {k: record[k] for k in context} == context
    assert stored_stamp(engine, talks[0]) == stored_stamp(engine, talks[1]) == record["issued_at"]


def test_savepoints_stay_in_their_transaction_and_a_rolled_back_one_leaves_nothing(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=3)
    before = len(transactions(engine))
    with audit_context(actor="alice", origin="api"), sessions.begin() as session:
        session.get_one(Session, talks[0]).title = "Outer"
        session.flush()
        with session.begin_nested():
            session.get_one(Session, talks[1]).title = "Kept savepoint"
        with pytest.raises(RuntimeError), session.begin_nested():
            session.get_one(Session, talks[2]).title = "Rolled back"
            session.flush()
            raise RuntimeError
    assert len(transactions(engine)) == before + 1
    changed = [v for v in versions(engine, "sessions") if v["operation_type"] == UPDATE]
    assert sorted(v["title"] for v in changed) == ["Kept savepoint", "Outer"]
    (tx,) = {v["transaction_id"] for v in changed}
    assert transaction(engine, tx)["actor"] == "alice"
    assert_chain_intact(engine, "sessions", "id")


def test_a_savepoint_opened_before_any_write_attributes_the_transaction(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2)
    before = len(transactions(engine))
    with audit_context(actor="bob", origin="cli"), sessions.begin() as session:
        with session.begin_nested():
            session.get_one(Session, talks[0]).title = "In savepoint"
        session.get_one(Session, talks[1]).title = "After savepoint"
    assert len(transactions(engine)) == before + 1
    changed = [v for v in versions(engine, "sessions") if v["operation_type"] == UPDATE]
    (tx,) = {v["transaction_id"] for v in changed}
    assert (transaction(engine, tx)["actor"], transaction(engine, tx)["origin"]) == ("bob", "cli")


def test_a_transaction_that_wrote_only_in_a_savepoint_does_not_adopt_the_next_writer(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2)
    with audit_context(actor="carol", origin="api"), sessions.begin() as session:
        savepoint = session.begin_nested()
        session.get_one(Session, talks[0]).title = "Savepoint only"
        savepoint.commit()
    run_dbapi(engine, [("UPDATE sessions SET title = ? WHERE id = ?", ("Foreign", talks[1]))])
    (foreign,) = [v for v in versions(engine, "sessions") if v["title"] == "Foreign"]
    assert transaction(engine, foreign["transaction_id"])["origin"] == "sql"


def test_a_raw_statement_on_the_session_connection_after_publishing_is_attributed(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=1)
    with audit_context(actor="dave", origin="cli"), sessions.begin() as session:
        publish_context(session)
        session.connection().execute(
            sa.text("UPDATE sessions SET title = 'Raw first' WHERE id = :id"), {"id": talks[0]}
        )
    assert attributed_to(engine, "Raw first") == [("dave", "cli")]


@pytest.mark.postgresql_only
def test_publishing_the_context_costs_an_orm_transaction_no_statement_of_its_own(
    engine: sa.Engine, sessions: Sessions, database_url: str
) -> None:
    talks, _ = seed(sessions, talks=1)
    sent: list[object] = []

    class CountingCursor(psycopg2.extensions.cursor):  # type: ignore[misc]
        def execute(self, query: Any, vars: Any = None) -> None:
            sent.append(query)
            super().execute(query, vars)

    counted = sa.create_engine(
        database_url, connect_args={"cursor_factory": CountingCursor}, poolclass=sa.NullPool
    )

    def statements_of_one_update(factory: orm.sessionmaker[Any], title: str) -> int:
        sent.clear()
        with audit_context(actor="erin", origin="api"), factory.begin() as session:
            session.get_one(Session, talks[0]).title = title
        return len(sent)

    try:
        with counted.connect():
            pass  # the dialect's first-connect queries, not counted
        plain = statements_of_one_update(orm.sessionmaker(counted), "Unattributed")
        audited = statements_of_one_update(session_factory(counted), "Attributed")
    finally:
        counted.dispose()
    assert audited == plain  # the publishing call went out with the UPDATE
    assert attributed_to(engine, "Attributed") == [("erin", "api")]


def test_a_first_write_sent_for_many_rows_or_without_parameters_is_attributed(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=3)
    with audit_context(actor="frank", origin="cli"), sessions.begin() as session:
        session.execute(
            sa.update(Session), [{"id": talk, "title": "Many rows"} for talk in talks[:2]]
        )
    with audit_context(actor="grace", origin="api"), sessions.begin() as session:
        session.execute(
            sa.text(f"UPDATE sessions SET title = 'No parameters' WHERE id = {talks[2]}")
        )
    assert attributed_to(engine, "Many rows") == [("frank", "cli")] * 2
    assert attributed_to(engine, "No parameters") == [("grace", "api")]


def test_a_flush_that_sent_nothing_leaves_the_context_to_a_streamed_read(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2)
    with audit_context(actor="heidi", origin="api"), sessions.begin() as session:
        first = session.get_one(Session, talks[0])
        first.title = first.title  # dirty, but no change: the flush sends nothing
        session.flush()
        streaming = sa.select(Session).where(Session.id.in_(talks)).execution_options(yield_per=1)
        streamed = session.scalars(streaming).all()
        session.get_one(Session, talks[1]).title = "After the stream"
    assert len(streamed) == 2
    assert attributed_to(engine, "After the stream") == [("heidi", "api")]


def test_orm_writes_get_exactly_one_version_per_changed_row(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, people = seed(sessions, talks=2)
    with sessions.begin() as session:
        first = session.get_one(Session, talks[0])
        first.title = "Renamed"
        first.level = "beginner"
        session.flush()
        first.title = "Renamed twice"
        first.speakers.append(session.get_one(Speaker, people[0]))
        session.get_one(Session, talks[1]).title = "Talk 1"  # no-op
    assert [
        (v["title"], v["operation_type"]) for v in versions(engine, "sessions", f"id = {talks[0]}")
    ] == [("Talk 0", INSERT), ("Renamed twice", UPDATE)]
    assert len(versions(engine, "sessions", f"id = {talks[1]}")) == 1
    assert len(versions(engine, "speakers_sessions")) == 1


def test_statements_changing_nothing_or_only_last_modified_leave_no_trace(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2)
    count, txs = len(versions(engine, "sessions")), len(transactions(engine))
    raw(engine, "UPDATE sessions SET title = title")
    raw(engine, "UPDATE sessions SET title = 'never' WHERE 1 = 0")
    raw(engine, "UPDATE sessions SET last_modified_at = :at", at=datetime(2001, 1, 1, tzinfo=UTC))
    raw(engine, "DELETE FROM speakers_sessions")
    assert (len(versions(engine, "sessions")), len(transactions(engine))) == (count, txs)
    assert stored_stamp(engine, talks[0]) == datetime(2001, 1, 1, tzinfo=UTC)


def test_orm_write_without_actor_records_none_not_the_database_role(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1)
    with sessions.begin() as session:
        session.get_one(Session, talk).title = "Anonymous"
    (latest,) = [v for v in versions(engine, "sessions") if v["title"] == "Anonymous"]
    record = transaction(engine, latest["transaction_id"])
    assert (record["actor"], record["origin"], record["remote_addr"]) == (None, "api", None)


@pytest.mark.postgresql_only
def test_postgresql_foreign_writer_is_attributed_to_role_and_application_name(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1)
    run_dbapi(
        engine,
        [("UPDATE sessions SET title = ? WHERE id = ?", ("psql", talk))],
        application="open-event-server",
    )
    (latest,) = [v for v in versions(engine, "sessions") if v["title"] == "psql"]
    record = transaction(engine, latest["transaction_id"])
    assert (record["actor"], record["origin"], record["application"]) == (
        engine.url.username,
        "sql",
        "open-event-server",
    )
    assert record["remote_addr"] == "127.0.0.1"


@pytest.mark.sqlite_only
def test_sqlite_foreign_writer_is_origin_sql_and_grouped_per_statement(
    engine: sa.Engine, sessions: Sessions
) -> None:
    # SQLite cannot tell where a foreign transaction begins, so each statement
    # of it gets its own transaction row (the documented caveat).
    talks, _ = seed(sessions, talks=2)
    with dbapi_connection(engine) as connection:
        connection.execute("UPDATE sessions SET title = 'A' WHERE id = ?", (talks[0],))
        connection.execute("UPDATE sessions SET title = 'B' WHERE id = ?", (talks[1],))
        connection.commit()
    changed = [v for v in versions(engine, "sessions") if v["title"] in ("A", "B")]
    records = [transaction(engine, v["transaction_id"]) for v in changed]
    assert [(r["origin"], r["actor"]) for r in records] == [("sql", None), ("sql", None)]
    assert records[0]["id"] != records[1]["id"]


def test_foreign_writer_stamps_last_modified_at_in_the_same_statement(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1)
    run_dbapi(engine, [("UPDATE sessions SET subtitle = ? WHERE id = ?", ("live", talk))])
    (latest,) = [v for v in versions(engine, "sessions") if v["subtitle"] == "live"]
    assert stored_stamp(engine, talk) == transaction(engine, latest["transaction_id"])["issued_at"]
    with engine.connect() as connection:
        assert derive_last_modified(connection, [talk]) == {talk: stored_stamp(engine, talk)}


def test_speakers_change_is_versioned_in_the_association_and_moves_the_session_stamp(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), people = seed(sessions, talks=1)
    before = stored_stamp(engine, talk)
    run_dbapi(
        engine,
        [
            (
                "INSERT INTO speakers_sessions (speaker_id, session_id) VALUES (?, ?)",
                (people[0], talk),
            )
        ],
    )
    (link,) = versions(engine, "speakers_sessions")
    assert (link["speaker_id"], link["session_id"], link["operation_type"]) == (
        people[0],
        talk,
        INSERT,
    )
    assert len(versions(engine, "sessions", f"id = {talk}")) == 1
    after = stored_stamp(engine, talk)
    assert before is not None and after is not None and after > before
    with engine.connect() as connection:
        assert derive_last_modified(connection, [talk]) == {talk: after}


def test_several_speakers_of_one_session_change_in_one_transaction(
    engine: sa.Engine, sessions: Sessions
) -> None:
    # Open Event keyed speakers_sessions_version on transaction_id alone, so
    # this edit failed with a unique violation and versioning was dropped.
    (talk,), people = seed(sessions, talks=1)
    with sessions.begin() as session:
        session.get_one(Session, talk).speakers = [session.get_one(Speaker, p) for p in people[:2]]
    with audit_context(actor="bob"), sessions.begin() as session:
        session.execute(sa.text("DELETE FROM speakers_sessions WHERE session_id = :s"), {"s": talk})
        session.execute(
            sa.text(
                "INSERT INTO speakers_sessions (speaker_id, session_id) VALUES (:a, :s), (:b, :s)"
            ),
            {"a": people[1], "b": people[2], "s": talk},
        )
    current = {
        (v["speaker_id"], v["operation_type"])
        for v in versions(engine, "speakers_sessions")
        if v["end_transaction_id"] is None
    }
    assert current == {(people[0], DELETE), (people[1], INSERT), (people[2], INSERT)}
    assert_chain_intact(engine, "speakers_sessions", "speaker_id")
    with engine.connect() as connection:
        assert derive_last_modified(connection, [talk]) == {talk: stored_stamp(engine, talk)}


def test_primary_key_change_is_recorded_as_delete_and_insert(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), people = seed(sessions, talks=1)
    raw(engine, "UPDATE sessions SET id = 777 WHERE id = :id", id=talk)
    assert [v["operation_type"] for v in versions(engine, "sessions", f"id = {talk}")] == [
        INSERT,
        DELETE,
    ]
    assert [v["operation_type"] for v in versions(engine, "sessions", "id = 777")] == [INSERT]
    raw(engine, "INSERT INTO speakers_sessions VALUES (:p, 777)", p=people[0])
    raw(engine, "UPDATE speakers_sessions SET speaker_id = :q", q=people[1])
    assert [
        (v["speaker_id"], v["operation_type"], v["end_transaction_id"] is None)
        for v in versions(engine, "speakers_sessions")
    ] == [(people[0], INSERT, False), (people[0], DELETE, True), (people[1], INSERT, True)]


def test_deleting_an_event_versions_the_cascaded_deletes(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks = seed_with_a_speaker(sessions, talks=2)
    raw(engine, "DELETE FROM events")
    assert {v["id"] for v in versions(engine, "sessions") if v["operation_type"] == DELETE} == set(
        talks
    )
    assert [v["operation_type"] for v in versions(engine, "speakers_sessions")] == [INSERT, DELETE]
    with engine.connect() as connection:
        assert capture.verify(connection) == []


@pytest.mark.postgresql_only
def test_truncate_versions_a_delete_of_every_row_of_every_truncated_table(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks = seed_with_a_speaker(sessions, talks=3)
    before = len(transactions(engine))
    with db.write_transaction(engine) as connection:
        connection.exec_driver_sql(
            "UPDATE sessions SET title = 'Last words' WHERE id = %s", (talks[1],)
        )
        connection.exec_driver_sql("TRUNCATE sessions CASCADE")
    assert len(transactions(engine)) == before + 1
    deleted = [v for v in versions(engine, "sessions") if v["operation_type"] == DELETE]
    assert sorted(v["id"] for v in deleted) == sorted(talks)
    assert "Last words" in {v["title"] for v in deleted}
    (tx,) = {v["transaction_id"] for v in deleted}
    assert transaction(engine, tx)["origin"] == "sql"
    assert [v["operation_type"] for v in versions(engine, "speakers_sessions")] == [INSERT, DELETE]
    assert_chain_intact(engine, "sessions", "id")
    raw(engine, "TRUNCATE speakers_sessions")  # empty: nothing to record
    assert len(transactions(engine)) == before + 1
    with engine.connect() as connection:
        assert capture.verify(connection) == []


# One step of the property test: (kind, talk index, speaker index, value).
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["orm_title", "raw_title", "raw_noop", "orm_speaker", "raw_speaker", "orm_new"]
        ),
        st.integers(0, 2),
        st.integers(0, 2),
        st.sampled_from(["a", "b", "c"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=steps)
def test_last_modified_always_equals_the_value_derived_from_history(
    engine: sa.Engine, sessions: Sessions, script: list[tuple[str, int, int, str]]
) -> None:
    with sessions() as session:
        talks = list(session.scalars(sa.select(Session.id).order_by(Session.id)))
        people = list(session.scalars(sa.select(Speaker.id).order_by(Speaker.id)))
    if not talks:
        talks, people = seed(sessions)
    for kind, t, p, value in script:
        talk, person = talks[t % len(talks)], people[p]
        if kind == "orm_title":
            with sessions.begin() as session:
                session.get_one(Session, talk).title = value
        elif kind == "raw_title":
            raw(engine, "UPDATE sessions SET title = :v WHERE id = :id", v=value, id=talk)
        elif kind == "raw_noop":
            raw(engine, "UPDATE sessions SET title = title WHERE id = :id", id=talk)
        elif kind == "orm_speaker":
            with sessions.begin() as session:
                row, speaker = session.get_one(Session, talk), session.get_one(Speaker, person)
                if speaker in row.speakers:
                    row.speakers.remove(speaker)
                else:
                    row.speakers.append(speaker)
        elif kind == "raw_speaker":
            raw(engine, "DELETE FROM speakers_sessions WHERE session_id = :s", s=talk)
        else:
            with sessions.begin() as session:
                session.add(Session(title=value, speakers=[session.get_one(Speaker, person)]))
    with engine.connect() as connection:
        derived = derive_last_modified(connection)
        stored = dict(connection.execute(sa.select(Session.id, Session.last_modified_at)).all())
    assert derived == stored
