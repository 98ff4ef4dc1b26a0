"""last_modified_at is the issued_at of the row's latest versioned change."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import orm

from auditd.capture.attribution import AuditSession
from auditd.models import Event, Session, SessionVersion, Speaker, Transaction
from auditd.stamps.derive import derive_last_modified


def _stored(engine: sa.Engine, talk_id: int) -> datetime | None:
    # A fresh connection: proves the value reached the database, not just memory.
    with engine.connect() as connection:
        return connection.execute(
            sa.select(Session.last_modified_at).where(Session.id == talk_id)
        ).scalar_one()


def _latest_issued_at(sessions: orm.sessionmaker[AuditSession], talk_id: int) -> datetime:
    with sessions() as session:
        return session.execute(
            sa.select(sa.func.max(Transaction.issued_at))
            .join(SessionVersion, SessionVersion.transaction_id == Transaction.id)
            .where(SessionVersion.id == talk_id)
        ).scalar_one()


def _create(sessions: orm.sessionmaker[AuditSession]) -> int:
    with sessions.begin() as session:
        talk = Session(title="Keynote", event=Event(name="Conf"))
        session.add(talk)
    return talk.id


def test_insert_sets_last_modified_to_transaction_time(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk_id = _create(sessions)
    stored = _stored(engine, talk_id)
    assert stored is not None and stored.tzinfo is UTC
    assert stored == _latest_issued_at(sessions, talk_id)


def test_update_persists_new_last_modified_in_same_write(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    # The after_update trap: a listener's value there is never flushed.
    talk_id = _create(sessions)
    before = _stored(engine, talk_id)
    time.sleep(0.01)
    with sessions.begin() as session:
        session.get_one(Session, talk_id).title = "Renamed"
    after = _stored(engine, talk_id)
    assert before is not None and after is not None and after > before
    assert after == _latest_issued_at(sessions, talk_id)


def test_orm_object_sees_persisted_last_modified_after_commit(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk_id = _create(sessions)
    with sessions() as session:
        talk = session.get_one(Session, talk_id)
        talk.title = "Renamed"
        session.commit()
        assert talk.last_modified_at == _stored(engine, talk_id)


def test_noop_update_keeps_last_modified(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk_id = _create(sessions)
    before = _stored(engine, talk_id)
    time.sleep(0.01)
    with sessions.begin() as session:
        session.get_one(Session, talk_id).title = "Keynote"
    assert _stored(engine, talk_id) == before


def test_writing_only_last_modified_creates_no_version(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk_id = _create(sessions)
    with sessions.begin() as session:
        session.get_one(Session, talk_id).last_modified_at = datetime(2001, 1, 1, tzinfo=UTC)
    with engine.connect() as connection:
        versions = connection.execute(
            sa.select(sa.func.count())
            .select_from(SessionVersion)
            .where(SessionVersion.id == talk_id)
        ).scalar_one()
    assert versions == 1
    assert _stored(engine, talk_id) == datetime(2001, 1, 1, tzinfo=UTC)


def test_speakers_only_change_moves_last_modified(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk_id = _create(sessions)
    before = _stored(engine, talk_id)
    time.sleep(0.01)
    with sessions.begin() as session:
        talk = session.get_one(Session, talk_id)
        talk.speakers.append(Speaker(name="Ada"))
    after = _stored(engine, talk_id)
    assert before is not None and after is not None and after > before
    with engine.connect() as connection:
        assert derive_last_modified(connection, [talk_id]) == {talk_id: after}


def test_stored_value_equals_derived_value_after_every_commit(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    talk_id = _create(sessions)
    edits = [
        lambda talk: setattr(talk, "state", "accepted"),
        lambda talk: talk.speakers.append(Speaker(name="Grace")),
        lambda talk: setattr(talk, "deleted_at", datetime.now(UTC)),
        lambda talk: talk.speakers.clear(),
    ]
    for edit in edits:
        with sessions.begin() as session:
            edit(session.get_one(Session, talk_id))
        with engine.connect() as connection:
            assert derive_last_modified(connection, [talk_id]) == {
                talk_id: _stored(engine, talk_id)
            }


def test_derivation_covers_any_set_of_rows_in_one_call(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]
) -> None:
    ids = [_create(sessions) for _ in range(3)]
    with engine.connect() as connection:
        derived = derive_last_modified(connection, ids[:2])
        everything = derive_last_modified(connection)
    assert set(derived) == set(ids[:2])
    assert all(everything[i] == _stored(engine, i) for i in ids)
