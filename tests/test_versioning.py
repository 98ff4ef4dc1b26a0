"""Every ORM write is versioned once, attributed, and no-ops leave no trace."""

from __future__ import annotations

import sqlalchemy as sa
from audit_names import versions
from sqlalchemy import orm

from auditd.capture.attribution import AuditSession, audit_context
from auditd.models import Event, Session, SessionVersion, Speaker, Transaction

INSERT, UPDATE, DELETE = 0, 1, 2


def _versions(
    sessions: orm.sessionmaker[AuditSession], session_id: int
) -> list[tuple[str, int, int | None]]:
    with sessions() as session:
        rows = session.execute(
            sa.select(
                SessionVersion.title,
                SessionVersion.operation_type,
                SessionVersion.end_transaction_id,
            )
            .where(SessionVersion.id == session_id)
            .order_by(SessionVersion.end_transaction_id.is_(None), SessionVersion.transaction_id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _count_transactions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(Transaction)) or 0)


def _new_session(sessions: orm.sessionmaker[AuditSession], **values: object) -> int:
    with sessions.begin() as session:
        talk = Session(title="Keynote", event=Event(name="Conf"), **values)
        session.add(talk)
    return talk.id


def test_insert_creates_one_insert_version(sessions: orm.sessionmaker[AuditSession]) -> None:
    talk_id = _new_session(sessions)
    assert _versions(sessions, talk_id) == [("Keynote", INSERT, None)]


def test_update_closes_previous_version_and_adds_update(
    sessions: orm.sessionmaker[AuditSession],
) -> None:
    talk_id = _new_session(sessions)
    with sessions.begin() as session:
        session.get_one(Session, talk_id).title = "Opening keynote"
    versions = _versions(sessions, talk_id)
    assert [(title, op) for title, op, _ in versions] == [
        ("Keynote", INSERT),
        ("Opening keynote", UPDATE),
    ]
    assert versions[0][2] is not None and versions[1][2] is None


def test_delete_creates_delete_version_with_last_values(
    sessions: orm.sessionmaker[AuditSession],
) -> None:
    talk_id = _new_session(sessions)
    with sessions.begin() as session:
        session.delete(session.get_one(Session, talk_id))
    assert [(t, op) for t, op, _ in _versions(sessions, talk_id)] == [
        ("Keynote", INSERT),
        ("Keynote", DELETE),
    ]


def test_noop_update_creates_no_version_and_no_transaction(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk_id = _new_session(sessions, level="beginner")
    transactions = _count_transactions(engine)
    with sessions.begin() as session:
        talk = session.get_one(Session, talk_id)
        talk.title = "Keynote"
        talk.level = "beginner"
    assert len(_versions(sessions, talk_id)) == 1
    assert _count_transactions(engine) == transactions


def test_several_changes_in_one_transaction_make_one_version(
    sessions: orm.sessionmaker[AuditSession],
) -> None:
    talk_id = _new_session(sessions)
    with sessions.begin() as session:
        talk = session.get_one(Session, talk_id)
        talk.title = "First"
        session.flush()
        talk.title = "Second"
    assert [(t, op) for t, op, _ in _versions(sessions, talk_id)] == [
        ("Keynote", INSERT),
        ("Second", UPDATE),
    ]


def test_transaction_records_actor_origin_reason_and_address(
    sessions: orm.sessionmaker[AuditSession],
) -> None:
    with audit_context(actor="alice", origin="cli", reason="fix typo", remote_addr="192.0.2.7"):
        talk_id = _new_session(sessions)
    with sessions() as session:
        version = session.scalars(
            sa.select(SessionVersion).where(SessionVersion.id == talk_id)
        ).one()
        transaction = session.get_one(Transaction, version.transaction_id)
    assert (transaction.actor, transaction.origin, transaction.reason, transaction.remote_addr) == (
        "alice",
        "cli",
        "fix typo",
        "192.0.2.7",
    )
    assert transaction.issued_at.utcoffset() is not None


def test_changing_several_speakers_in_one_transaction_is_versioned(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    # Open Event's speakers_sessions_version was keyed on transaction_id alone,
    # so this edit failed with a unique-key error and versioning was dropped.
    with sessions.begin() as session:
        speakers = [Speaker(name=name) for name in ("Ada", "Grace", "Linus")]
        talk = Session(title="Panel", speakers=speakers[:1])
        session.add_all([talk, *speakers])
    with sessions.begin() as session:
        talk = session.get_one(Session, talk.id)
        talk.speakers = [session.get_one(Speaker, s.id) for s in speakers[1:]]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT speaker_id, operation_type"
                f" FROM {versions(connection, 'speakers_sessions')}"
                " WHERE session_id = :id AND end_transaction_id IS NULL ORDER BY speaker_id"
            ),
            {"id": talk.id},
        ).all()
    assert [tuple(r) for r in rows] == [
        (speakers[0].id, DELETE),
        (speakers[1].id, INSERT),
        (speakers[2].id, INSERT),
    ]


def test_audit_context_rejects_unknown_origin() -> None:
    import pytest

    from auditd.errors import UsageError

    with pytest.raises(UsageError, match="unknown origin"), audit_context(origin="telepathy"):
        pass


def test_continuum_version_objects_read_the_trigger_written_history(
    sessions: orm.sessionmaker[AuditSession],
) -> None:
    talk_id = _new_session(sessions)
    with audit_context(actor="bob"), sessions.begin() as session:
        session.get_one(Session, talk_id).title = "Renamed"
    with sessions() as session:
        talk = session.get_one(Session, talk_id)
        first, second = talk.versions.all()
        assert second.changeset["title"] == ["Keynote", "Renamed"]
        assert second.previous is first and first.next is second
        assert second.transaction.actor == "bob"
