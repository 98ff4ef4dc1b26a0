"""Changes in SQL: every version joined to its predecessor, set-based.

A row's versions form a chain through the validity linkage: the version
before ``v`` is the one with the same key and ``end_transaction_id =
v.transaction_id``. That linkage, not ``transaction_id`` order, is the order
of a row's versions: on PostgreSQL transaction ids are xids, handed out when
a transaction first writes, so along one row they can go down under
concurrency. Joining each version to its predecessor with that linkage
gives every old → new diff of a range of transactions in one set-based
statement (``ix_<table>_predecessor`` makes the join an index probe); a
model's members (a session's speakers) come from its association's version
table in a second statement and are merged into the same transactions. The
change feed and the reports read changes this way; one row's history pairs
its few versions in memory instead (:mod:`auditd.history.row_history`).
Every table and column comes from the registry (:mod:`auditd.history.tables`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from auditd.history.records import OPERATIONS, Change, FieldChange, SpeakerRef
from auditd.history.tables import TRANSACTION, Members, VersionedModel
from auditd.timestamps import UTCDateTime

AnyRow = sa.Row[*tuple[Any, ...]]
UPDATE, DELETE = 1, 2  # operation_type values (0 is insert)
TRANSACTION_COLUMNS = (
    "issued_at",
    "actor",
    "origin",
    "reason",
    "remote_addr",
    "application",
    "db_role",
    "client_addr",
)


def transaction_columns(t: sa.FromClause) -> list[sa.ColumnElement[Any]]:
    return [t.c[name].label(f"t_{name}") for name in TRANSACTION_COLUMNS]


@dataclass(frozen=True)
class VersionDiff:
    """The statement pairing each version of ``model`` with its predecessor.

    ``v`` is the version, ``prev`` its predecessor (NULL columns when there
    is none), ``t`` the version's transaction; callers add WHERE clauses on
    these aliases. Columns: ``row_id``, ``transaction_id``,
    ``end_transaction_id``, ``operation_type``, ``prev_tx``, ``event_id``,
    ``t_*`` (transaction), ``n_<field>`` (new) and ``o_<field>`` (old).
    """

    model: VersionedModel
    dialect: str
    v: sa.FromClause
    prev: sa.FromClause
    t: sa.FromClause

    @classmethod
    def of(cls, model: VersionedModel, dialect: str) -> VersionDiff:
        # Built once per model and backend: constructing the statement costs
        # more than running it, and cached statements hit SQLAlchemy's
        # compiled cache.
        return _version_diff(model, dialect)

    @property
    def row_key(self) -> sa.ColumnElement[Any]:
        return self.v.c[self.model.key]

    def joined(self, *, with_prev: bool = True) -> sa.FromClause:
        v, prev, t = self.v, self.prev, self.t
        key = self.model.key
        linkage = sa.and_(prev.c[key] == v.c[key], prev.c.end_transaction_id == v.c.transaction_id)
        base = v.outerjoin(prev, linkage) if with_prev else v
        return base.join(t, t.c.id == v.c.transaction_id)

    def event_id(self) -> sa.ColumnElement[Any]:
        column = self.model.event_column
        return sa.null() if column is None else self.v.c[column]

    def changed(self, field: str) -> sa.ColumnElement[bool]:
        """True where the version lists ``field`` as changed, as :func:`field_changes`
        decides in Python: an update that gave it another value, an insert
        that set it, a delete of a row where it was set."""
        new = self._comparable(field, self.v.c[field])
        return sa.case(
            (
                self.v.c.operation_type == UPDATE,
                new.is_distinct_from(self._comparable(field, self.prev.c[field])),
            ),
            else_=new.is_not(None),
        )

    def _comparable(self, field: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # Compare values the way the Python diff compares them.
        if isinstance(column.type, sa.JSON):
            # JSON null reads as None in Python, like SQL NULL; as text, the
            # values compare on both backends (json has no = on PostgreSQL).
            return sa.func.nullif(sa.cast(column, sa.Text), "null")
        if field in self.model.text_compared:
            return sa.cast(column, sa.Text)  # a type without = (xml, point, ...)
        # SQLite keeps timestamps as text: CURRENT_TIMESTAMP defaults lack the
        # fraction SQLAlchemy writes, so the same instant can be stored as two
        # strings.
        if self.dialect != "sqlite" or not isinstance(column.type, UTCDateTime):
            return column
        text = sa.type_coerce(column, sa.String)
        padded = text + sa.literal(".000000", sa.String)
        return sa.case((sa.func.length(text) == 19, padded), else_=text)

    def select(self) -> sa.Select[Any]:
        return self._select

    @functools.cached_property
    def _select(self) -> sa.Select[Any]:
        v, prev = self.v, self.prev
        return sa.select(
            self.row_key.label("row_id"),
            v.c.transaction_id,
            v.c.end_transaction_id,
            v.c.operation_type,
            prev.c.transaction_id.label("prev_tx"),
            self.event_id().label("event_id"),
            *transaction_columns(self.t),
            *(v.c[f].label(f"n_{f}") for f in self.model.fields),
            *(prev.c[f].label(f"o_{f}") for f in self.model.fields),
        ).select_from(self.joined())


@dataclass(frozen=True)
class MembersDiff:
    """Each version of a model's association (a session's speaker links) with
    its predecessor, the member's name and the parent's event; the
    association counterpart of :class:`VersionDiff`. Columns: ``row_id``
    (the parent), ``member_id``, ``transaction_id``, ``operation_type``,
    ``prev_tx``, ``prev_op``, ``member_name``, ``event_id``, ``t_*``."""

    model: VersionedModel
    members: Members
    s: sa.FromClause
    p: sa.FromClause
    t: sa.FromClause

    @classmethod
    def of(cls, model: VersionedModel) -> MembersDiff:
        return _members_diff(model)

    @property
    def parent_id(self) -> sa.ColumnElement[Any]:
        return self.s.c[self.members.parent_column]

    @property
    def member_id(self) -> sa.ColumnElement[Any]:
        return self.s.c[self.members.member_column]

    def joined(self, *, with_prev: bool = True) -> sa.FromClause:
        s, p, t, members = self.s, self.p, self.t, self.members
        linkage = sa.and_(
            p.c[members.parent_column] == s.c[members.parent_column],
            p.c[members.member_column] == s.c[members.member_column],
            p.c.end_transaction_id == s.c.transaction_id,
        )
        base = s.outerjoin(p, linkage) if with_prev else s
        return base.join(t, t.c.id == s.c.transaction_id)

    def event_id(self) -> sa.ColumnElement[Any]:
        return parent_event(self.model, self.parent_id)

    def select(self) -> sa.Select[Any]:
        return self._select

    @functools.cached_property
    def _select(self) -> sa.Select[Any]:
        s, p = self.s, self.p
        return sa.select(
            self.parent_id.label("row_id"),
            self.member_id.label("member_id"),
            s.c.transaction_id,
            s.c.end_transaction_id,
            s.c.operation_type,
            p.c.transaction_id.label("prev_tx"),
            p.c.operation_type.label("prev_op"),
            member_name(self.members, self.member_id).label("member_name"),
            self.event_id().label("event_id"),
            *transaction_columns(self.t),
        ).select_from(self.joined())


@functools.cache
def _version_diff(model: VersionedModel, dialect: str) -> VersionDiff:
    return VersionDiff(
        model=model,
        dialect=dialect,
        v=model.version.alias("v"),
        prev=model.version.alias("prev"),
        t=TRANSACTION.alias("t"),
    )


@functools.cache
def _members_diff(model: VersionedModel) -> MembersDiff:
    members = model.members
    assert members is not None
    return MembersDiff(
        model=model,
        members=members,
        s=members.version.alias("s"),
        p=members.version.alias("p"),
        t=TRANSACTION.alias("t"),
    )


Conditions = list[sa.ColumnElement[bool]]


def change_keys(
    dialect: str,
    models: Iterable[VersionedModel],
    *,
    versions: Callable[[VersionDiff], Conditions | None],
    members: Callable[[MembersDiff], Conditions | None],
    with_prev: bool = False,
) -> sa.Subquery:
    """``(tx, model, row_id)`` of every change of ``models``: one row per row
    changed by a transaction, its own version and its members changes merged.

    ``versions(diff)`` and ``members(diff)`` give the conditions a change must
    meet, or None to leave that source of a model out; ``with_prev`` joins
    each version to its predecessor (for conditions on ``diff.prev``).
    """
    selects: list[sa.Select[Any]] = []

    def add(tx: Any, name: str, row_id: Any, source: sa.FromClause, where: Conditions) -> None:
        selects.append(
            sa.select(tx.label("tx"), sa.literal(name).label("model"), row_id.label("row_id"))
            .select_from(source)
            .where(*where)
        )

    for model in models:
        diff = VersionDiff.of(model, dialect)
        conditions = versions(diff)
        if conditions is not None:
            add(
                diff.v.c.transaction_id,
                model.name,
                diff.row_key,
                diff.joined(with_prev=with_prev),
                conditions,
            )
        if model.members is None:
            continue
        association = MembersDiff.of(model)
        conditions = members(association)
        if conditions is not None:
            add(
                association.s.c.transaction_id,
                model.name,
                association.parent_id,
                association.joined(with_prev=False),
                conditions,
            )
    return sa.union(*selects).subquery("changes")


def member_name(members: Members, member_id: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The member's current label (a speaker's name), or its last versioned
    label once deleted; NULL when the member table is not versioned here."""
    live, version = members.member_table, members.member_version
    if live is None or version is None:
        return sa.null()
    key, label = members.member_key, members.member_label
    current_row, last = live.alias("live_member"), version.alias("last_member")
    current = sa.select(current_row.c[label]).where(current_row.c[key] == member_id)
    versioned = (
        sa.select(last.c[label])
        .where(last.c[key] == member_id, last.c.end_transaction_id.is_(None))
        .limit(1)
    )
    return sa.func.coalesce(current.scalar_subquery(), versioned.scalar_subquery())


def parent_event(model: VersionedModel, parent_id: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The event of the parent row's current (or, once deleted, last) version."""
    if model.event_column is None:
        return sa.null()
    last = model.version.alias("last_parent")
    return (
        sa.select(last.c[model.event_column])
        .where(last.c[model.key] == parent_id, last.c.end_transaction_id.is_(None))
        .limit(1)
        .scalar_subquery()
    )


def changed_fields(
    model: VersionedModel,
    operation_type: int,
    new: Sequence[Any],
    old: Sequence[Any] | None,
) -> list[FieldChange]:
    """What a version changed, field by field, from its values and its
    predecessor's (``new`` and ``old`` in ``model.fields`` order; ``old`` is
    None when there is no predecessor to compare with).

    An insert sets its non-null fields (old None), also when it re-creates a
    deleted row; a delete clears the row's last non-null values (new None),
    which a delete version holds; an update lists the fields that differ
    from its predecessor. A revert reports its changes the same way.
    """
    fields = model.fields
    if operation_type == DELETE:
        return [
            FieldChange(field=f, old=v) for f, v in zip(fields, new, strict=True) if v is not None
        ]
    if operation_type != UPDATE or old is None:
        return [
            FieldChange(field=f, new=v) for f, v in zip(fields, new, strict=True) if v is not None
        ]
    return [
        FieldChange(field=f, old=o, new=v)
        for f, o, v in zip(fields, old, new, strict=True)
        if o != v
    ]


@functools.cache
def _labels(model: VersionedModel) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(f"n_{f}" for f in model.fields), tuple(f"o_{f}" for f in model.fields)


def field_changes(model: VersionedModel, row: sa.Row[Any]) -> list[FieldChange]:
    """What a :class:`VersionDiff` row changed (see :func:`changed_fields`)."""
    values = row._mapping
    new_labels, old_labels = _labels(model)
    new = [values[label] for label in new_labels]
    old = None if row.prev_tx is None else [values[label] for label in old_labels]
    return changed_fields(model, row.operation_type, new, old)


@dataclass(frozen=True)
class MemberLink:
    """One version of a membership, as :func:`members_change` reads it:
    ``was_member`` tells whether the member belonged just before it."""

    member_id: int
    member_name: str | None
    operation_type: int
    was_member: bool


def members_change(field: str, links: Iterable[MemberLink]) -> FieldChange | None:
    """Who joined and who left in one transaction (a member added and removed
    again within it is neither)."""
    added, removed = [], []
    for link in sorted(links, key=lambda link: link.member_id):
        ref = SpeakerRef(id=link.member_id, name=link.member_name)
        if link.operation_type != DELETE and not link.was_member:
            added.append(ref)
        elif link.operation_type == DELETE and link.was_member:
            removed.append(ref)
    if not added and not removed:
        return None
    return FieldChange(field=field, added=tuple(added), removed=tuple(removed))


def make_change(
    model: VersionedModel,
    row_id: int,
    event_id: int | None,
    head: Any,
    operation: int,
    fields: list[FieldChange],
) -> Change:
    """A :class:`Change` of one row by the transaction of ``head`` (a row or
    a row history's record, with ``transaction_id`` and the ``t_*`` columns)."""
    return Change(
        model=model.name,
        row_id=row_id,
        transaction_id=head.transaction_id,
        issued_at=head.t_issued_at,
        actor=head.t_actor,
        origin=head.t_origin,
        reason=head.t_reason,
        remote_addr=head.t_remote_addr,
        application=head.t_application,
        db_role=head.t_db_role,
        client_addr=head.t_client_addr,
        operation=OPERATIONS[operation],
        event_id=event_id,
        fields=tuple(fields),
    )


ChangeKey = tuple[int, int]  # (row id, transaction id)


def merge_changes(
    model: VersionedModel,
    version_rows: Iterable[sa.Row[Any]],
    member_rows: Iterable[sa.Row[Any]] = (),
) -> dict[ChangeKey, Change]:
    """Build one :class:`Change` per (row, transaction) from :class:`VersionDiff`
    and :class:`MembersDiff` rows. A members-only transaction is an update;
    one whose members changes cancel out and that has no version is dropped."""
    heads: dict[ChangeKey, sa.Row[Any]] = {}
    fields: dict[ChangeKey, list[FieldChange]] = {}
    operations: dict[ChangeKey, int] = {}
    for row in version_rows:
        key = (row.row_id, row.transaction_id)
        heads[key] = row
        operations[key] = row.operation_type
        fields[key] = field_changes(model, row)
    grouped: dict[ChangeKey, list[sa.Row[Any]]] = {}
    for row in member_rows:
        grouped.setdefault((row.row_id, row.transaction_id), []).append(row)
    for key, rows in grouped.items():
        assert model.members is not None
        links = (
            MemberLink(
                member_id=row.member_id,
                member_name=row.member_name,
                operation_type=row.operation_type,
                was_member=row.prev_tx is not None and row.prev_op != DELETE,
            )
            for row in rows
        )
        members = members_change(model.members.field, links)
        if members is None:
            continue
        if key not in heads:
            heads[key], operations[key], fields[key] = rows[0], UPDATE, []
        fields[key].append(members)
    return {
        key: make_change(
            model, key[0], heads[key].event_id, heads[key], operations[key], fields[key]
        )
        for key in heads
    }
