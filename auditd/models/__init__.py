"""The versioned Open Event domain and its audit tables.

Importing this package declares every model and configures the mappers, so
Continuum's version classes (``SessionVersion``, ...) and tables exist in
``Base.metadata`` afterwards.
"""

from __future__ import annotations

from sqlalchemy import orm
from sqlalchemy_continuum import version_class

from auditd.models.audit import (
    Adoption,
    ContextKey,
    OpenTransaction,
    RegistryEntry,
    Transaction,
)
from auditd.models.base import Base
from auditd.models.continuum import versioning_manager
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
from auditd.models.indexes import declare_version_indexes
from auditd.models.jobs import JobRun, JobState
from auditd.models.ledger import LedgerBlock

versioning_manager.transaction_cls = Transaction
orm.configure_mappers()

declare_version_indexes()

SessionVersion = version_class(Session)
EventVersion = version_class(Event)
TrackVersion = version_class(Track)
SpeakerVersion = version_class(Speaker)

__all__ = [
    "SESSION_STATES",
    "Adoption",
    "Base",
    "ContextKey",
    "Event",
    "EventVersion",
    "JobRun",
    "JobState",
    "LedgerBlock",
    "Microlocation",
    "OpenTransaction",
    "RegistryEntry",
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
