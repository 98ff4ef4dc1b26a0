"""Which models have a history, and their versioned fields.

The history commands address rows as ``MODEL ID`` with the model names
below; a model's fields are the versioned columns of its version table
(the key excluded), and a session also has the ``speakers`` pseudo-field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from auditd.capture import VERSION_META_COLUMNS
from auditd.errors import UsageError
from auditd.models import Base, Event, Session, Speaker, Track, Transaction
from auditd.records import SPEAKERS_FIELD

TRANSACTION: sa.Table = Transaction.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class VersionedModel:
    """One versioned model: its ORM class, live and version tables, fields."""

    name: str
    orm_class: type[Any]
    table: sa.Table
    version: sa.Table
    fields: tuple[str, ...]
    event_column: str
    has_speakers: bool

    @property
    def all_fields(self) -> tuple[str, ...]:
        """The fields a change can list, the speakers pseudo-field included."""
        return (*self.fields, SPEAKERS_FIELD) if self.has_speakers else self.fields


def _model(name: str, orm_class: type[Any], *, has_speakers: bool = False) -> VersionedModel:
    table: sa.Table = orm_class.__table__
    version = Base.metadata.tables[f"{table.name}_version"]
    key = {column.name for column in table.primary_key.columns}
    fields = tuple(
        c.name for c in version.c if c.name not in VERSION_META_COLUMNS and c.name not in key
    )
    return VersionedModel(
        name=name,
        orm_class=orm_class,
        table=table,
        version=version,
        fields=fields,
        event_column="event_id" if "event_id" in fields else "id",
        has_speakers=has_speakers,
    )


MODELS: dict[str, VersionedModel] = {
    model.name: model
    for model in (
        _model("event", Event),
        _model("session", Session, has_speakers=True),
        _model("speaker", Speaker),
        _model("track", Track),
    )
}
MODEL_NAMES = tuple(sorted(MODELS))


def speakers_version() -> sa.Table:
    """The version table of the session ↔ speaker association."""
    return Base.metadata.tables["speakers_sessions_version"]


def resolve_model(name: str) -> VersionedModel:
    """The model called ``name``; :class:`UsageError` listing the valid ones otherwise."""
    model = MODELS.get(name)
    if model is None:
        raise UsageError(f"unknown model {name!r}", f"valid models: {', '.join(MODEL_NAMES)}")
    return model


def resolve_field(model: VersionedModel | None, field: str) -> str:
    """Check that ``field`` is a field of ``model`` (of any model when None).

    Raises :class:`UsageError` listing the valid fields.
    """
    if model is not None:
        if field not in model.all_fields:
            raise UsageError(
                f"unknown field {field!r} for model {model.name}",
                f"valid fields: {', '.join(model.all_fields)}",
            )
        return field
    every = sorted({f for m in MODELS.values() for f in m.all_fields})
    if field not in every:
        raise UsageError(f"unknown field {field!r}", f"valid fields: {', '.join(every)}")
    return field
