"""SQLite: every committed write of any writer keeps its own version.

Programs outside our ORM (here the plain ``sqlite3`` module, as the shell or
another application would write) commit statements faster than SQLite's
millisecond clock ticks. However fast they write, each committed change of a
row is its own version, under a transaction row of its own, in commit order;
all rows of one statement still share one transaction row, and an
``AuditSession`` transaction of several statements is still one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import orm
from test_capture import (
    DELETE,
    INSERT,
    UPDATE,
    assert_chain_intact,
    seed,
    seed_with_a_speaker,
    transactions,
    versions,
)

from auditd import api
from auditd.capture.attribution import AuditSession, audit_context
from auditd.models import Event, Session

pytestmark = pytest.mark.sqlite_only

Sessions = orm.sessionmaker[AuditSession]
WRITES = 200


@contextmanager
def autocommit(engine: sa.Engine) -> Iterator[sqlite3.Connection]:
    """A plain ``sqlite3`` connection in autocommit mode: each statement commits."""
    with closing(sqlite3.connect(str(engine.url.database), isolation_level=None)) as connection:
        yield connection


def title_history(engine: sa.Engine, talk: int) -> list[tuple[int, str]]:
    """(transaction id, new title) of every change of the talk's title, oldest first."""
    changes = api.history(engine, "session", talk, newest_first=False)
    titled = [(change.transaction_id, change.field("title")) for change in changes]
    return [(tx, field.new) for tx, field in titled if field is not None]


def assert_each_write_kept_in_commit_order(
    engine: sa.Engine, talk: int, committed: list[str]
) -> None:
    """The talk's last len(committed) title changes are the committed values,
    one by one, each under its own transaction row, ids rising in commit order."""
    recorded = title_history(engine, talk)[-len(committed) :]
    assert [title for _, title in recorded] == committed
    ids = [tx for tx, _ in recorded]
    assert ids == sorted(set(ids))
    assert len(versions(engine, "sessions", f"id = {talk}")) == 1 + len(committed)
    assert_chain_intact(engine, "sessions", "id")


def test_a_tight_autocommit_loop_on_one_row_keeps_every_committed_value(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1, speakers=0)
    committed = [f"S{i}" for i in range(WRITES)]
    with autocommit(engine) as connection:
        for title in committed:
            connection.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, talk))
    assert_each_write_kept_in_commit_order(engine, talk, committed)


def test_two_connections_alternating_on_one_row_keep_every_committed_value(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1, speakers=0)
    committed = [f"S{i}" for i in range(WRITES)]
    with autocommit(engine) as first, autocommit(engine) as second:
        for number, title in enumerate(committed):
            writer = first if number % 2 == 0 else second
            writer.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, talk))
    assert_each_write_kept_in_commit_order(engine, talk, committed)


def test_a_tight_autocommit_loop_over_several_rows_gives_each_statement_its_transaction_row(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=3, speakers=0)
    before = len(transactions(engine))
    with autocommit(engine) as connection:
        for number in range(WRITES):
            talk = talks[number % 3]
            connection.execute("UPDATE sessions SET title = ? WHERE id = ?", (f"S{number}", talk))
    assert len(transactions(engine)) == before + WRITES
    for offset, talk in enumerate(talks):
        assert [title for _, title in title_history(engine, talk)[1:]] == [
            f"S{number}" for number in range(offset, WRITES, 3)
        ]


def test_one_statement_updating_500_rows_is_one_transaction_row_with_500_versions(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=500, speakers=0)
    before = len(transactions(engine))
    with autocommit(engine) as connection:
        connection.execute("UPDATE sessions SET title = 'bulk ' || id")
    changed = [v for v in versions(engine, "sessions") if v["operation_type"] == UPDATE]
    assert sorted(v["id"] for v in changed) == sorted(talks)
    assert all(v["title"] == f"bulk {v['id']}" for v in changed)
    assert len({v["transaction_id"] for v in changed}) == 1
    assert len(transactions(engine)) == before + 1


def test_a_delete_cascading_through_foreign_keys_versions_every_row_at_the_statement_time(
    engine: sa.Engine, sessions: Sessions
) -> None:
    seed_with_a_speaker(sessions, talks=3)  # and 3 speakers
    before = len(transactions(engine))
    with autocommit(engine) as connection:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("DELETE FROM events")
    deleted = [
        v["transaction_id"]
        for table in ("events", "sessions", "speaker", "speakers_sessions")
        for v in versions(engine, table)
        if v["operation_type"] == DELETE
    ]
    assert len(deleted) == 1 + 3 + 3 + 1
    # Each completed cascade step looks like the end of a statement from
    # inside a trigger: the statement's rows are split over transaction rows
    # of its own, all at the statement's time (the documented limit).
    created = transactions(engine)[before:]
    assert {tx["id"] for tx in created} == set(deleted)
    assert len({(tx["issued_at"], tx["origin"]) for tx in created}) == 1


def test_an_audit_session_transaction_of_several_statements_stays_one_transaction_row(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2, speakers=0)
    before = len(transactions(engine))
    with audit_context(actor="alice", origin="api"), sessions.begin() as session:
        for number in range(20):  # many statements within a millisecond or two
            session.get_one(Session, talks[0]).title = f"ORM {number}"
            session.flush()
            session.execute(sa.update(Session).where(Session.id == talks[1]).values(level=number))
            session.execute(
                sa.text("UPDATE sessions SET subtitle = :s WHERE id IN (:a, :b)"),
                {"s": f"raw {number}", "a": talks[0], "b": talks[1]},
            )
            with session.begin_nested():
                session.get_one(Session, talks[1]).title = f"nested {number}"
    assert len(transactions(engine)) == before + 1
    changed = [v for v in versions(engine, "sessions") if v["operation_type"] == UPDATE]
    assert sorted((v["id"], v["title"], v["subtitle"]) for v in changed) == [
        (talks[0], "ORM 19", "raw 19"),
        (talks[1], "nested 19", "raw 19"),
    ]
    (tx,) = {v["transaction_id"] for v in changed}
    assert transactions(engine)[-1]["id"] == tx
    assert transactions(engine)[-1]["actor"] == "alice"


def test_a_foreign_transaction_gets_a_transaction_row_per_statement_and_loses_no_change(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2, speakers=0)
    with autocommit(engine) as connection:
        connection.executescript(
            f"""BEGIN;
            UPDATE sessions SET title = 'first' WHERE id = {talks[0]};
            UPDATE sessions SET title = 'second' WHERE id = {talks[0]};
            UPDATE sessions SET title = 'other' WHERE id = {talks[1]};
            COMMIT;"""
        )
    (first, title_1), (second, title_2) = title_history(engine, talks[0])[-2:]
    (third, title_3) = title_history(engine, talks[1])[-1]
    assert (title_1, title_2, title_3) == ("first", "second", "other")
    assert first < second < third


def test_a_statement_that_changes_one_row_twice_keeps_both_changes(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1, speakers=0)
    with autocommit(engine) as connection:
        connection.execute(
            "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked)"
            " VALUES (?, 'changed', 'pending', 0, 0), (?, 'Talk 0', 'pending', 0, 0),"
            " (900, 'new', 'pending', 0, 0)"
            " ON CONFLICT (id) DO UPDATE SET title = excluded.title",
            (talk, talk),
        )
    assert [title for _, title in title_history(engine, talk)] == ["Talk 0", "changed", "Talk 0"]
    assert [v["operation_type"] for v in versions(engine, "sessions", "id = 900")] == [INSERT]
    assert_chain_intact(engine, "sessions", "id")


def test_a_foreign_statement_after_an_orm_transaction_gets_its_own_transaction_row(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1, speakers=0)
    with autocommit(engine) as connection:
        for number in range(20):
            with audit_context(actor="orm", origin="test"), sessions.begin() as session:
                session.get_one(Session, talk).title = f"orm {number}"
            connection.execute(
                "UPDATE sessions SET title = ? WHERE id = ?", (f"sql {number}", talk)
            )
    recorded = title_history(engine, talk)[-40:]
    assert [title for _, title in recorded] == [
        title for number in range(20) for title in (f"orm {number}", f"sql {number}")
    ]
    actors = [next(t["actor"] for t in transactions(engine) if t["id"] == tx) for tx, _ in recorded]
    assert actors == ["orm", None] * 20


def test_events_and_speakers_of_foreign_statements_are_kept_too(
    engine: sa.Engine, sessions: Sessions
) -> None:
    _, people = seed(sessions, talks=1, speakers=1)
    with sessions.begin() as session:
        event_id = session.scalars(sa.select(Event.id)).one()
    committed = [f"N{i}" for i in range(50)]
    with autocommit(engine) as connection:
        for name in committed:
            connection.execute("UPDATE speaker SET name = ? WHERE id = ?", (name, people[0]))
            connection.execute("UPDATE events SET name = ? WHERE id = ?", (name, event_id))
    for model, row in (("speaker", people[0]), ("event", event_id)):
        names = [
            change.field("name").new  # type: ignore[union-attr]
            for change in api.history(engine, model, row, newest_first=False)
            if change.field("name") is not None
        ]
        assert names[-50:] == committed
