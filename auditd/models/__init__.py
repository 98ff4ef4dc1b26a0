"""The versioned Open Event domain and its audit tables.

Importing this package declares every model and configures the mappers, so
Continuum's version classes (``SessionVersion``, ...) and tables exist in
``Base.metadata`` afterwards.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy_continuum import version_class

from auditd.models.audit import CaptureRegistration, OpenTransaction, Transaction
from auditd.models.base import Base
from auditd.models.domain import (
    SESSION_STATES,
    Event,
    Microlocation,
    Session,
    SessionType,
    Speaker,
    Track,
    User,
    speakers_sessions,
)
from auditd.models.jobs import JobRun, JobState
from auditd.versioning import versioning_manager

versioning_manager.transaction_cls = Transaction
orm.configure_mappers()

SessionVersion = version_class(Session)
# Deriving a session's last change reads its speakers' history by session id.
sa.Index(
    "ix_speakers_sessions_version_session_id",
    Base.metadata.tables["speakers_sessions_version"].c.session_id,
    Base.metadata.tables["speakers_sessions_version"].c.transaction_id,
)
EventVersion = version_class(Event)
TrackVersion = version_class(Track)
SpeakerVersion = version_class(Speaker)
from auditd.models import indexes as _indexes  # noqa: E402, F401  (history indexes)

__all__ = [
    "SESSION_STATES",
    "Base",
    "CaptureRegistration",
    "Event",
    "EventVersion",
    "JobRun",
    "JobState",
    "Microlocation",
    "OpenTransaction",
    "Session",
    "SessionType",
    "SessionVersion",
    "Speaker",
    "SpeakerVersion",
    "Track",
    "TrackVersion",
    "Transaction",
    "User",
    "speakers_sessions",
]
