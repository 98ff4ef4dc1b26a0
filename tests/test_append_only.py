"""Committed history is append-only, even for the role that owns it.

Capture's own close of a superseded version still works, and retention has
one sanctioned way in. Run as the owner (PostgreSQL superuser, SQLite file
owner): privileges keep every other role out (tests/test_privileges.py).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from audit_names import transactions, versions  # type: ignore[import-not-found]
from sqlalchemy import orm

from auditd import capture, db
from auditd.capture import append_only
from auditd.capture.attribution import AuditSession, audit_context
from auditd.models import Session
from auditd.models.namespace import version_table_name

REFUSED = "history is append-only"


def _named(bind: sa.Engine | sa.Connection, statement: str) -> str:
    """``statement`` with the audit tables named as this database has them."""
    statement = re.sub(r"(?<!\w)sessions_version(?!\w)", versions(bind, "sessions"), statement)
    return statement.replace('"transaction"', transactions(bind))


def _talk_with_two_versions(sessions: orm.sessionmaker[AuditSession]) -> int:
    with audit_context(actor="alice", origin="test"), sessions.begin() as session:
        talk = Session(title="Talk", state="pending")
        session.add(talk)
    with audit_context(actor="alice", origin="test"), sessions.begin() as session:
        session.get_one(Session, talk.id).title = "Renamed"
        session.flush()
        session.get_one(Session, talk.id).title = "Renamed twice"  # merged into one version
    return talk.id


def _chain(engine: sa.Engine, talk: int) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                _named(
                    connection,
                    "SELECT title, operation_type, end_transaction_id IS NULL FROM sessions_version"
                    " WHERE id = :id ORDER BY transaction_id",
                )
            ),
            {"id": talk},
        )
        return [tuple(row) for row in rows]


def _refused(engine: sa.Engine, statement: str, **params: object) -> None:
    with (
        pytest.raises(sa.exc.DatabaseError, match=REFUSED),
        db.write_transaction(engine) as connection,
    ):
        connection.execute(sa.text(_named(connection, statement)), params)


def test_capture_still_closes_and_merges_versions(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk = _talk_with_two_versions(sessions)
    assert _chain(engine, talk) == [("Talk", 0, False), ("Renamed twice", 1, True)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE sessions_version SET title = 'FORGED' WHERE id = :id",
        "UPDATE sessions_version SET end_transaction_id = NULL WHERE id = :id",
        "UPDATE sessions_version SET end_transaction_id = 424242"
        " WHERE id = :id AND end_transaction_id IS NULL",
        "UPDATE sessions_version SET operation_type = 2 WHERE id = :id",
        "DELETE FROM sessions_version WHERE id = :id",
    ],
)
def test_committed_versions_cannot_be_changed_or_removed(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession], statement: str
) -> None:
    talk = _talk_with_two_versions(sessions)
    before = _chain(engine, talk)
    _refused(engine, statement, id=talk)
    assert _chain(engine, talk) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE \"transaction\" SET actor = 'mallory'",
        "UPDATE \"transaction\" SET origin = 'cli', reason = 'legit fix'",
        'DELETE FROM "transaction"',
    ],
)
def test_committed_transaction_rows_cannot_be_changed_or_removed(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession], statement: str
) -> None:
    _talk_with_two_versions(sessions)
    _refused(engine, statement)
    with engine.connect() as connection:
        actors = connection.execute(
            sa.text(_named(connection, 'SELECT DISTINCT actor FROM "transaction"'))
        ).all()
    assert [tuple(a) for a in actors] == [("alice",)]


@pytest.mark.postgresql_only
@pytest.mark.parametrize("table", ["sessions_version", '"transaction"'])
def test_history_cannot_be_truncated(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession], table: str
) -> None:
    talk = _talk_with_two_versions(sessions)
    _refused(engine, f"TRUNCATE {table} CASCADE")
    assert len(_chain(engine, talk)) == 2


def test_retention_deletes_old_history_only_inside_its_block(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk = _talk_with_two_versions(sessions)
    with db.write_transaction(engine) as connection:
        oldest = connection.scalar(sa.text(_named(connection, 'SELECT min(id) FROM "transaction"')))
        with append_only.retention(connection, (version_table_name("sessions"),)):
            connection.execute(
                sa.text(
                    _named(connection, "DELETE FROM sessions_version WHERE transaction_id = :tx")
                ),
                {"tx": oldest},
            )
            connection.execute(
                sa.text(_named(connection, 'DELETE FROM "transaction" WHERE id = :tx')),
                {"tx": oldest},
            )
    assert _chain(engine, talk) == [("Renamed twice", 1, True)]
    _refused(engine, "DELETE FROM sessions_version WHERE id = :id", id=talk)
    _refused(engine, 'DELETE FROM "transaction"')


def test_verify_reports_a_history_guard_that_was_removed_or_disabled(engine: sa.Engine) -> None:
    with db.write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(
                _named(
                    connection,
                    "ALTER TABLE sessions_version DISABLE TRIGGER audittrail_append_only_update",
                )
            )
            expected = (
                "history guard audittrail_append_only_update on audittrail_sessions_version"
                " is disabled"
            )
        else:
            name = "audittrail_sessions_version_append_only_delete"
            connection.exec_driver_sql(f"DROP TRIGGER {name}")
            expected = f"history guard {name} on audittrail_sessions_version is missing"
    with engine.connect() as connection:
        assert [str(p) for p in capture.verify(connection)] == [f"sessions: {expected}"]
