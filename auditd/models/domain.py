"""The Open Event domain: events, tracks, rooms, session types, speakers,
users and sessions, with Open Event Server's table and column names.

``__versioned__`` marks what Continuum builds version tables for. Only
``last_modified_at`` is excluded: it is derived from history
(:mod:`auditd.stamps.derive`), so versioning it would version every repair.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

# Continuum's class listeners must be registered before these classes exist.
import auditd.models.continuum  # noqa: F401
from auditd.models.base import Base
from auditd.timestamps import UTCDateTime

SESSION_STATES = ("pending", "accepted", "confirmed", "rejected", "withdrawn", "canceled")

# JSONB on PostgreSQL: plain json has no equality operator, which the capture
# triggers need to tell a real change from a no-op.
JSONValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _server_now() -> sa.sql.elements.TextClause:
    return sa.text("CURRENT_TIMESTAMP")


class User(Base):
    __tablename__ = "users"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    email: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    first_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    last_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))


class Event(Base):
    __tablename__ = "events"
    __versioned__: ClassVar[dict[str, Any]] = {}

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    location_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    timezone: orm.Mapped[str] = orm.mapped_column(sa.String(64), default="UTC")
    starts_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    ends_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="draft")
    deleted_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)


class Track(Base):
    __tablename__ = "tracks"
    __versioned__: ClassVar[dict[str, Any]] = {}

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    color: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    event_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    deleted_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)

    event: orm.Mapped[Event | None] = orm.relationship()


class Microlocation(Base):
    __tablename__ = "microlocations"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    floor: orm.Mapped[int | None] = orm.mapped_column()
    event_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )


class SessionType(Base):
    __tablename__ = "session_types"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    length: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    event_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )


speakers_sessions = sa.Table(
    "speakers_sessions",
    Base.metadata,
    sa.Column("speaker_id", sa.ForeignKey("speaker.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("session_id", sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
)


class Speaker(Base):
    __tablename__ = "speaker"
    __versioned__: ClassVar[dict[str, Any]] = {}

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    email: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    organisation: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    position: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    short_biography: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    event_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    user_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    deleted_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)

    sessions: orm.Mapped[list[Session]] = orm.relationship(
        secondary=speakers_sessions, back_populates="speakers"
    )
    event: orm.Mapped[Event | None] = orm.relationship()


class Session(Base):
    """A talk, workshop or other slot of an event (Open Event's ``sessions``)."""

    __tablename__ = "sessions"
    __versioned__: ClassVar[dict[str, Any]] = {"exclude": ["last_modified_at"]}
    __table_args__ = (
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in SESSION_STATES) + ")", name="state"
        ),
    )

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    subtitle: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    short_abstract: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    long_abstract: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    comments: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    language: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    level: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    starts_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    ends_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    track_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("tracks.id", ondelete="CASCADE"), index=True
    )
    microlocation_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("microlocations.id", ondelete="CASCADE")
    )
    session_type_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("session_types.id", ondelete="CASCADE")
    )
    event_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    creator_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    slides_url: orm.Mapped[str | None] = orm.mapped_column(sa.String(1024))
    video_url: orm.Mapped[str | None] = orm.mapped_column(sa.String(1024))
    audio_url: orm.Mapped[str | None] = orm.mapped_column(sa.String(1024))
    signup_url: orm.Mapped[str | None] = orm.mapped_column(sa.String(1024))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="pending")
    created_at: orm.Mapped[datetime | None] = orm.mapped_column(
        UTCDateTime, server_default=_server_now()
    )
    submitted_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    submission_modifier: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    is_mail_sent: orm.Mapped[bool] = orm.mapped_column(default=False)
    send_email: orm.Mapped[bool | None] = orm.mapped_column()
    is_locked: orm.Mapped[bool] = orm.mapped_column(default=False)
    complex_field_values: orm.Mapped[Any | None] = orm.mapped_column(JSONValue)
    deleted_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    # Written by the capture triggers in the same statement as the change it
    # reflects; FetchedValue makes the ORM reload it instead of trusting memory.
    last_modified_at: orm.Mapped[datetime | None] = orm.mapped_column(
        UTCDateTime, server_default=sa.FetchedValue(), server_onupdate=sa.FetchedValue()
    )

    speakers: orm.Mapped[list[Speaker]] = orm.relationship(
        secondary=speakers_sessions, back_populates="sessions", order_by="Speaker.id"
    )
    track: orm.Mapped[Track | None] = orm.relationship()
    event: orm.Mapped[Event | None] = orm.relationship()
