"""Capture specs for this project's own versioned models."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy_continuum.utils import version_table

from auditd.capture import VERSION_META_COLUMNS
from auditd.capture.spec import CaptureSpec, ParentStamp
from auditd.models import Event, Session, Speaker, Track, speakers_sessions

STAMP_COLUMN = "last_modified_at"


def _spec(table: sa.FromClause, *, parents: tuple[ParentStamp, ...] = ()) -> CaptureSpec:
    assert isinstance(table, sa.Table)
    versioned = version_table(table)
    columns = tuple(c.name for c in versioned.c if c.name not in VERSION_META_COLUMNS)
    stamp = STAMP_COLUMN if STAMP_COLUMN in table.c and STAMP_COLUMN not in columns else None
    return CaptureSpec(
        table=table.name,
        version_table=versioned.name,
        key=tuple(c.name for c in table.primary_key.columns),
        columns=columns,
        stamp_column=stamp,
        parents=parents,
    )


def model_specs() -> tuple[CaptureSpec, ...]:
    """Specs for events, tracks, speaker, sessions and speakers_sessions, as the
    models declare them now (migrations pin their own copies)."""
    return (
        _spec(Event.__table__),
        _spec(Track.__table__),
        _spec(Speaker.__table__),
        _spec(Session.__table__),
        _spec(
            speakers_sessions,
            parents=(
                ParentStamp(
                    column="session_id",
                    parent_table="sessions",
                    parent_key="id",
                    stamp_column=STAMP_COLUMN,
                ),
            ),
        ),
    )
