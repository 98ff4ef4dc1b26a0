"""Row history in SQL: every version joined to its predecessor, in one statement.

A row's versions form a chain through the validity linkage: the version
before ``v`` is the one with the same key and ``end_transaction_id =
v.transaction_id``. That linkage, not ``transaction_id`` order, is the order
of a row's versions: on PostgreSQL transaction ids are xids, handed out when
a transaction first writes, so along one row they can go down under
concurrency. Joining each version to its predecessor with that linkage
gives every old → new diff of a row, or of a range of transactions, in one
set-based statement (``ix_<table>_predecessor`` makes the join an index
probe); a model's members (a session's speakers) come from its
association's version table in a second statement and are merged into the
same transactions. Every table and column comes from the registry
(:mod:`auditd.history.tables`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from auditd.errors import INTEGRITY_HINT, IntegrityError
from auditd.history.records import OPERATIONS, Change, FieldChange, SpeakerRef
from auditd.history.tables import TRANSACTION, Members, VersionedModel
from auditd.ledger.linkage import VersionLink, chain_problems
from auditd.timestamps import UTCDateTime

AnyRow = sa.Row[*tuple[Any, ...]]
UPDATE, DELETE = 1, 2  # operation_type values (0 is insert)
_TX_COLUMNS = (
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
    return [t.c[name].label(f"t_{name}") for name in _TX_COLUMNS]


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


def field_changes(model: VersionedModel, row: sa.Row[Any]) -> list[FieldChange]:
    """What a version changed, field by field.

    An insert sets its non-null fields (old None), also when it re-creates a
    deleted row; a delete clears the row's last non-null values (new None),
    which a delete version holds; an update lists the fields that differ
    from its predecessor. A revert reports its changes the same way.
    """
    values = row._mapping
    changes = []
    for name in model.fields:
        value = values[f"n_{name}"]
        if row.operation_type == DELETE:
            old, new = value, None
        elif row.operation_type == UPDATE and row.prev_tx is not None:
            old, new = values[f"o_{name}"], value
        else:
            old, new = None, value
        if old != new:
            changes.append(FieldChange(field=name, old=old, new=new))
    return changes


def _members_change(field: str, rows: Sequence[sa.Row[Any]]) -> FieldChange | None:
    """Who joined and who left in one transaction (a member added and removed
    again within it is neither)."""
    added, removed = [], []
    for row in sorted(rows, key=lambda r: r.member_id):
        ref = SpeakerRef(id=row.member_id, name=row.member_name)
        was_member = row.prev_tx is not None and row.prev_op != 2
        if row.operation_type != 2 and not was_member:
            added.append(ref)
        elif row.operation_type == 2 and was_member:
            removed.append(ref)
    if not added and not removed:
        return None
    return FieldChange(field=field, added=tuple(added), removed=tuple(removed))


def _change(
    model: VersionedModel, head: sa.Row[Any], operation: int, fields: list[FieldChange]
) -> Change:
    return Change(
        model=model.name,
        row_id=head.row_id,
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
        event_id=head.event_id,
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
        members = _members_change(model.members.field, rows)
        if members is None:
            continue
        if key not in heads:
            heads[key], operations[key], fields[key] = rows[0], 1, []
        fields[key].append(members)
    return {key: _change(model, heads[key], operations[key], fields[key]) for key in heads}


def chain_order(versions: Sequence[sa.Row[Any]]) -> list[ChangeKey]:
    """The row's version keys oldest first, following the validity linkage.

    Versions no chain reaches (a broken linkage) follow in (issued_at, id)
    order rather than being lost.
    """
    by_tx = {row.transaction_id: row for row in versions}
    time_order = sorted(versions, key=lambda r: (r.t_issued_at, r.transaction_id))
    ordered: list[ChangeKey] = []
    seen: set[int] = set()
    for start in time_order:
        if start.prev_tx is not None and start.prev_tx in by_tx:
            continue
        row: sa.Row[Any] | None = start
        while row is not None and row.transaction_id not in seen:
            seen.add(row.transaction_id)
            ordered.append((row.row_id, row.transaction_id))
            following = row.end_transaction_id
            row = None if following is None else by_tx.get(following)
    ordered += [(r.row_id, r.transaction_id) for r in time_order if r.transaction_id not in seen]
    return ordered


@functools.cache
def _history_statements(
    model: VersionedModel, dialect: str
) -> tuple[sa.Select[Any], sa.Select[Any] | None]:
    diff = VersionDiff.of(model, dialect)
    versions = diff.select().where(diff.row_key == sa.bindparam("row_id"))
    if model.members is None:
        return versions, None
    members = MembersDiff.of(model)
    return versions, members.select().where(members.parent_id == sa.bindparam("row_id"))


def _require_intact_chains(
    model: VersionedModel,
    row_id: int,
    versions: Sequence[sa.Row[Any]],
    member_rows: Sequence[sa.Row[Any]],
) -> None:
    """IntegrityError when the row's chain of versions, or one of its members'
    chains, is broken: the old → new values would be computed from it."""
    problems = chain_problems(
        model.table.name,
        (
            VersionLink(
                key=(row.row_id,),
                transaction_id=row.transaction_id,
                end_transaction_id=row.end_transaction_id,
                operation_type=row.operation_type,
            )
            for row in versions
        ),
    )
    if model.members is not None:
        problems += chain_problems(
            model.members.table.name,
            (
                VersionLink(
                    key=(row.row_id, row.member_id),
                    transaction_id=row.transaction_id,
                    end_transaction_id=row.end_transaction_id,
                    operation_type=row.operation_type,
                )
                for row in member_rows
            ),
        )
    if problems:
        raise IntegrityError(
            f"refusing to show the history of {model.name} {row_id}: {problems[0]}",
            INTEGRITY_HINT,
        )


def row_history(connection: sa.Connection, model: VersionedModel, row_id: int) -> list[Change]:
    """Every change of one row, oldest first: one statement (two for a model
    with members, such as a session).

    Versions follow their chain; members-only changes (speakers) are merged
    in by (issued_at, transaction id) between them.
    """
    versions_query, members_query = _history_statements(model, connection.dialect.name)
    versions = list(connection.execute(versions_query, {"row_id": row_id}))
    member_rows: list[sa.Row[Any]] = []
    if members_query is not None:
        member_rows = list(connection.execute(members_query, {"row_id": row_id}))
    _require_intact_chains(model, row_id, versions, member_rows)
    changes = merge_changes(model, versions, member_rows)
    chained = [changes[key] for key in chain_order(versions) if key in changes]
    own = {row.transaction_id for row in versions}
    extra = sorted(
        (change for key, change in changes.items() if key[1] not in own),
        key=lambda change: (change.issued_at, change.transaction_id),
    )
    return _merge_by_time(chained, extra)


def _merge_by_time(chained: list[Change], extra: list[Change]) -> list[Change]:
    """Interleave time-ordered ``extra`` into ``chained`` without reordering it."""
    merged: list[Change] = []
    position = 0
    for change in chained:
        while position < len(extra) and (
            extra[position].issued_at,
            extra[position].transaction_id,
        ) < (
            change.issued_at,
            change.transaction_id,
        ):
            merged.append(extra[position])
            position += 1
        merged.append(change)
    return merged + extra[position:]
