"""The tables history reads, built from the registry of the database at hand.

History commands address rows as ``MODEL ID``. A model's fields are the
versioned columns its version table really has (the key excluded), so an
adopted Open Event table's extra columns are fields too; a model with an
association (a session's ``speakers_sessions``) also has that association's
pseudo-field (``speakers``). Every table and column here comes from
:mod:`auditd.registry`; the typed :class:`sqlalchemy.Table` objects give
back timestamps as aware UTC datetimes and JSON as Python values on both
backends.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from auditd import registry
from auditd.errors import UsageError
from auditd.models.audit import TRANSACTION
from auditd.models.versioned import DECLARATIONS, VERSION_META_COLUMNS
from auditd.registry import ColumnKind, Registry, VersionedTable
from auditd.timestamps import UTCDateTime

# The model names history knows, before any database is read.
MODEL_NAMES: tuple[str, ...] = tuple(sorted(d.model for d in DECLARATIONS if d.model))

_TYPES: dict[ColumnKind, Any] = {
    "timestamp": UTCDateTime(),
    "boolean": sa.Boolean(),
    "json": sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    ),
}


def _typed_column(entry: VersionedTable, name: str, **kwargs: Any) -> sa.Column[Any]:
    kind = entry.kind(name)
    return sa.Column(name, _TYPES[kind] if kind in _TYPES else sa.types.NullType(), **kwargs)


def _tables(entry: VersionedTable, metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    live = sa.Table(
        entry.table,
        metadata,
        *(_typed_column(entry, c, primary_key=c in entry.key) for c in entry.column_names),
        schema=entry.table_schema,
    )
    version = sa.Table(
        entry.version_table,
        metadata,
        *(_typed_column(entry, c) for c in entry.column_names),
        *(sa.Column(meta, sa.BigInteger) for meta in VERSION_META_COLUMNS),
        schema=entry.audit_schema,
    )
    return live, version


@dataclass(frozen=True, eq=False)
class Members:
    """An association read as a pseudo-field of its parent's rows: which
    members (speakers) joined or left a parent (session)."""

    field: str
    table: sa.Table
    version: sa.Table
    parent_column: str
    member_column: str
    member_table: sa.Table | None
    member_version: sa.Table | None
    member_key: str
    member_label: str


@dataclass(frozen=True, eq=False)
class VersionedModel:
    """One model: its live and version tables, key, fields and members.

    ``text_compared`` are the fields PostgreSQL cannot compare with ``=``
    (``json``): history compares them as text.
    """

    name: str
    table: sa.Table
    version: sa.Table
    key: str
    fields: tuple[str, ...]
    event_column: str | None
    members: Members | None
    text_compared: frozenset[str] = frozenset()

    @property
    def all_fields(self) -> tuple[str, ...]:
        """The fields a change can list, the members pseudo-field last."""
        return (*self.fields, self.members.field) if self.members else self.fields


@dataclass(frozen=True, eq=False)
class Catalog:
    """Every model of one database, by name."""

    models: dict[str, VersionedModel]

    def resolve_model(self, name: str) -> VersionedModel:
        """The model called ``name``; :class:`UsageError` listing the valid ones otherwise."""
        model = self.models.get(name)
        if model is None:
            valid = ", ".join(sorted(self.models)) or "none (nothing is versioned yet)"
            raise UsageError(f"unknown model {name!r}", f"valid models: {valid}")
        return model

    def resolve_field(self, model: VersionedModel | None, field: str) -> str:
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
        every = sorted({f for m in self.models.values() for f in m.all_fields})
        if field not in every:
            raise UsageError(f"unknown field {field!r}", f"valid fields: {', '.join(every)}")
        return field


@functools.cache
def catalog_of(reg: Registry) -> Catalog:
    """The history catalog of a registry (built once per distinct registry)."""
    metadata = sa.MetaData()
    tables = {entry.table: _tables(entry, metadata) for entry in reg}
    models: dict[str, VersionedModel] = {}
    for entry in reg.models():
        if entry.model is None or len(entry.key) != 1:
            continue
        live, version = tables[entry.table]
        members = None
        for association in reg.memberships_of(entry.table):
            membership = association.membership
            assert membership is not None
            member = tables.get(membership.member_table)
            members = Members(
                field=membership.field,
                table=tables[association.table][0],
                version=tables[association.table][1],
                parent_column=membership.parent_column,
                member_column=membership.member_column,
                member_table=member[0] if member else None,
                member_version=member[1] if member else None,
                member_key=membership.member_key,
                member_label=membership.member_label,
            )
        models[entry.model] = VersionedModel(
            name=entry.model,
            table=live,
            version=version,
            key=entry.key[0],
            fields=entry.value_columns,
            event_column=entry.event_column,
            members=members,
            text_compared=frozenset(entry.text_compared),
        )
    return Catalog(models)


def catalog(connection: sa.Connection) -> Catalog:
    """The history catalog of the connection's database (its registry is
    read once per engine; see :func:`auditd.registry.load`)."""
    return catalog_of(registry.load(connection, cached=True))


def check_model_name(name: str) -> str:
    """``name`` if it is a model history knows; :class:`UsageError` otherwise
    (before any database is read)."""
    if not isinstance(name, str) or name not in MODEL_NAMES:
        raise UsageError(f"unknown model {name!r}", f"valid models: {', '.join(MODEL_NAMES)}")
    return name


__all__ = [
    "MODEL_NAMES",
    "TRANSACTION",
    "Catalog",
    "Members",
    "VersionedModel",
    "catalog",
    "catalog_of",
    "check_model_name",
]
