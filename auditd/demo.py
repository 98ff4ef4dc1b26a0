"""A small demo event with sessions, speakers and edits by several people.

Loaded once into an empty database (``audittrail demo``); loading again is a
no-op, so the README's main command can be rerun.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from auditd import db
from auditd.capture.attribution import audit_context, session_factory
from auditd.models import Event, Session, Speaker, Track, User

DEMO_EVENT = "FOSSASIA Summit (demo)"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`load_demo` did: whether it loaded, and the demo event's id."""

    loaded: bool
    event_id: int


def load_demo(engine: sa.Engine) -> DemoResult:
    """Create the demo event and replay a few days of edits, unless present."""
    sessions = session_factory(engine)
    with sessions() as session:
        existing = session.scalar(sa.select(Event.id).where(Event.name == DEMO_EVENT))
        if existing is not None:
            return DemoResult(loaded=False, event_id=existing)

    start = datetime(2027, 3, 12, 9, 0, tzinfo=UTC)
    with audit_context(actor="alice", origin="demo", reason="create the programme"):
        with sessions.begin() as session:
            owner = User(email="alice@example.org", first_name="Alice")
            event = Event(
                name=DEMO_EVENT,
                starts_at=start,
                ends_at=start + timedelta(days=3),
                location_name="Singapore",
                timezone="Asia/Singapore",
                state="published",
            )
            track = Track(name="Databases", color="#336699", event=event)
            ada = Speaker(name="Ada Lovelace", email="ada@example.org", event=event)
            grace = Speaker(name="Grace Hopper", email="grace@example.org", event=event)
            linus = Speaker(name="Linus Torvalds", event=event)
            talks = [
                Session(
                    title="Audit trails that tell the truth",
                    track=track,
                    event=event,
                    starts_at=start,
                    ends_at=start + timedelta(minutes=45),
                    speakers=[ada],
                ),
                Session(
                    title="Time zones considered harmful",
                    track=track,
                    event=event,
                    starts_at=start + timedelta(hours=1),
                    ends_at=start + timedelta(hours=1, minutes=30),
                    speakers=[grace],
                ),
                Session(
                    title="Triggers for everyone",
                    track=track,
                    event=event,
                    starts_at=start + timedelta(hours=2),
                    ends_at=start + timedelta(hours=2, minutes=45),
                    speakers=[linus],
                ),
            ]
            session.add_all([owner, event, track, *talks])
        event_id = event.id
        first, second, third = (talk.id for talk in talks)

    with (
        audit_context(actor="bob", origin="api", reason="speaker asked for a later slot"),
        sessions.begin() as session,
    ):
        talk = session.get_one(Session, second)
        talk.starts_at = start + timedelta(hours=3)
        talk.ends_at = start + timedelta(hours=3, minutes=30)
        talk.state = "accepted"

    with (
        audit_context(actor="carol", origin="cli", reason="co-speaker added"),
        sessions.begin() as session,
    ):
        talk = session.get_one(Session, first)
        talk.speakers.append(session.get_one(Speaker, grace.id))

    with (
        audit_context(actor="alice", origin="demo", reason="withdrawn by the speaker"),
        sessions.begin() as session,
    ):
        talk = session.get_one(Session, third)
        talk.state = "withdrawn"
        talk.deleted_at = start - timedelta(days=10)

    # A writer that bypasses the ORM entirely, like another application would.
    with db.write_transaction(engine) as connection:
        connection.execute(
            sa.text("UPDATE sessions SET subtitle = 'with live demo' WHERE id = :id"), {"id": first}
        )
    return DemoResult(loaded=True, event_id=event_id)
