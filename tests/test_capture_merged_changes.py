"""`verify` finds versions that show a lost change in an existing SQLite history.

Capture generator 5 merged a foreign writer's second change of a row into
the first's version when both fell in one millisecond. These tests install
its triggers (verbatim, ``tests/data``) on a database at revision 0009 (the
layout of its time) to make such a history, then upgrade it, which moves the
history into the audit namespace and replaces the triggers with the current
ones, and check what ``verify`` reports.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import orm
from test_capture import DELETE, seed, versions

from auditd import capture, migrate
from auditd.capture.attribution import AuditSession, audit_context
from auditd.models import Session

pytestmark = pytest.mark.sqlite_only

Sessions = orm.sessionmaker[AuditSession]
GENERATOR_5 = Path(__file__).parent / "data" / "generator5_sessions_triggers.sql"


def writer(engine: sa.Engine) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(str(engine.url.database), isolation_level=None))


def install_generator_5(engine: sa.Engine) -> None:
    """Back to the layout of revision 0009, with generator 5's triggers on sessions."""
    migrate.downgrade(engine, "0009")
    with writer(engine) as connection:
        connection.executescript(GENERATOR_5.read_text())


def merged_findings(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return [
            problem.problem
            for problem in capture.verify(connection)
            if "two changes of one row" in problem.problem
        ]


def toggle_back(engine: sa.Engine, talk: int) -> None:
    """One statement that changes the talk's title and changes it back."""
    with writer(engine) as connection:
        connection.execute(
            "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked)"
            " VALUES (?, 'changed', 'pending', 0, 0), (?, 'Talk 0', 'pending', 0, 0)"
            " ON CONFLICT (id) DO UPDATE SET title = excluded.title",
            (talk, talk),
        )


def test_verify_reports_a_change_and_its_undoing_merged_into_one_version(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1, speakers=0)
    install_generator_5(engine)
    toggle_back(engine, talk)
    migrate.upgrade(engine)  # the current triggers cannot bring the value back
    (merged,) = [
        v for v in versions(engine, "sessions", f"id = {talk}") if v["operation_type"] == 1
    ]
    assert merged_findings(engine) == [
        "1 version(s) show two changes of one row in one foreign transaction"
        f" (transactions {merged['transaction_id']}): history lacks the value between them"
    ]


def test_verify_reports_a_change_merged_into_the_delete_that_followed_it(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=300, speakers=0)
    install_generator_5(engine)
    with writer(engine) as connection:
        for talk in talks:  # two statements of one transaction, often in one millisecond
            connection.executescript(
                f"BEGIN; UPDATE sessions SET title = 'changed' WHERE id = {talk};"
                f" DELETE FROM sessions WHERE id = {talk}; COMMIT;"
            )
    migrate.upgrade(engine)
    history = versions(engine, "sessions")
    count = Counter(v["id"] for v in history)
    # Merged: no version of its own for the update, the delete holds its value.
    merged = sorted(
        v["transaction_id"]
        for v in history
        if v["operation_type"] == DELETE and count[v["id"]] == 2
    )
    assert merged, "no update fell in its delete's millisecond; the test proves nothing"
    (finding,) = merged_findings(engine)
    assert finding.startswith(f"{len(merged)} version(s) show two changes of one row")
    shown = finding.split("(transactions ")[1].split(")")[0].rstrip(", …").split(", ")
    assert [int(tx) for tx in shown] == merged[:10]


def test_the_current_triggers_leave_nothing_to_report(
    engine: sa.Engine, sessions: Sessions
) -> None:
    talks, _ = seed(sessions, talks=2, speakers=0)
    toggle_back(engine, talks[0])
    with writer(engine) as connection:
        for number in range(200):
            connection.execute(
                "UPDATE sessions SET is_locked = ? WHERE id = ?", (number % 2, talks[0])
            )
        connection.executescript(
            f"BEGIN; UPDATE sessions SET title = 'changed' WHERE id = {talks[1]};"
            f" DELETE FROM sessions WHERE id = {talks[1]}; COMMIT;"
        )
    with engine.connect() as connection:
        assert capture.verify(connection) == []


def test_an_orm_transaction_that_undoes_its_own_change_is_not_reported(
    engine: sa.Engine, sessions: Sessions
) -> None:
    (talk,), _ = seed(sessions, talks=1, speakers=0)
    with audit_context(actor="alice", origin="api"), sessions.begin() as session:
        row = session.get_one(Session, talk)
        row.title = "changed"
        session.flush()
        row.title = "Talk 0"
    # One version per row per transaction, as Continuum keeps it: by design.
    assert [v["title"] for v in versions(engine, "sessions", f"id = {talk}")] == [
        "Talk 0",
        "Talk 0",
    ]
    with engine.connect() as connection:
        assert capture.verify(connection) == []
