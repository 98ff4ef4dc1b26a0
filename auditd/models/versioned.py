"""What is versioned: the one place that names the versioned tables.

Each declaration says how a table takes part in history: the name history
commands use for its rows (``session``), the column that names a row's event,
whether it carries the derived ``last_modified_at``, and, for an association
such as ``speakers_sessions``, which parent it belongs to and whom it links.
The registry (:mod:`auditd.registry`) combines these declarations with the
columns each table really has in a database; every other module reads the
registry, never these names.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from auditd.models.domain import Event, Session, Speaker, Track, speakers_sessions

# The derived timestamp: the time of the row's latest versioned change.
STAMP_COLUMN = "last_modified_at"
# The pseudo-field under which a session's speakers changes appear.
SPEAKERS_FIELD = "speakers"
# Continuum's metadata columns of every version table.
VERSION_META_COLUMNS = ("transaction_id", "end_transaction_id", "operation_type")


@dataclass(frozen=True, kw_only=True)
class Membership:
    """An association table read as a pseudo-field of its parent's rows.

    A row of ``speakers_sessions`` links ``member_column`` (a speaker) to
    ``parent_column`` (a session): history shows its inserts and deletes as
    speakers added to and removed from the session, named by the member
    table's ``member_label`` column, and the session's stamp moves with them.
    """

    field: str
    parent_column: str
    parent_table: str
    parent_key: str
    member_column: str
    member_table: str
    member_key: str
    member_label: str


@dataclass(frozen=True, kw_only=True)
class Declaration:
    """How one table takes part in history (see the module docstring).

    ``model`` is None for an association, whose changes appear under its
    parent; ``stamped`` tables get ``last_modified_at`` added by adopt when
    they lack it (any versioned table that has the column is stamped).
    """

    table: str
    model: str | None
    event_column: str | None = "event_id"
    stamped: bool = False
    membership: Membership | None = None


def _name(table: sa.FromClause) -> str:
    assert isinstance(table, sa.Table)
    return table.name


DECLARATIONS: tuple[Declaration, ...] = (
    Declaration(table=_name(Event.__table__), model="event", event_column="id"),
    Declaration(table=_name(Track.__table__), model="track"),
    Declaration(table=_name(Speaker.__table__), model="speaker"),
    Declaration(table=_name(Session.__table__), model="session", stamped=True),
    Declaration(
        table=speakers_sessions.name,
        model=None,
        event_column=None,
        membership=Membership(
            field=SPEAKERS_FIELD,
            parent_column="session_id",
            parent_table=_name(Session.__table__),
            parent_key="id",
            member_column="speaker_id",
            member_table=_name(Speaker.__table__),
            member_key="id",
            member_label="name",
        ),
    ),
)
DECLARED_TABLES = tuple(declaration.table for declaration in DECLARATIONS)


def declaration(table: str) -> Declaration | None:
    """The declaration of ``table``, or None if it is not versioned."""
    return next((d for d in DECLARATIONS if d.table == table), None)


def predecessor_columns(declaration: Declaration, key: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a version table's predecessor index: the row key (an
    association's parent column first, as history reads it by parent) and
    ``end_transaction_id``."""
    membership = declaration.membership
    if membership is not None:
        key = (membership.parent_column, *(c for c in key if c != membership.parent_column))
    return (*key, "end_transaction_id")


def predecessor_index_name(version_table: str) -> str:
    """The name of a version table's predecessor index."""
    return f"ix_{version_table}_predecessor"


def parent_index_name(version_table: str, column: str) -> str:
    """The name of an association version table's (parent column, transaction) index."""
    return f"ix_{version_table}_{column}"
