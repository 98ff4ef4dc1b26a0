"""Revert a row to its state right after a past transaction.

The revert is an ordinary attributed write (origin ``revert``): the capture
triggers record it like any other change, so it shows up in history and can
itself be reverted. It writes the registry's columns with plain SQL on the
live table, so an adopted table's columns that the models do not declare
are restored too. The row is locked (PostgreSQL ``FOR UPDATE``; SQLite's
writer lock) before its current state is compared with the target, so a
concurrent edit cannot slip in between the comparison and the write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from auditd.capture.attribution import (
    audit_context,
    publish_context,
    recorded_transaction,
    session_factory,
)
from auditd.errors import NotFoundError, UsageError, first_line
from auditd.history.diff import member_name
from auditd.history.records import FieldChange, Operation, RevertResult, SpeakerRef
from auditd.history.row_history import read_row
from auditd.history.state_at import members_at, version_at
from auditd.history.tables import VersionedModel


@dataclass(frozen=True)
class _Target:
    deleted: bool
    values: dict[str, Any]
    members: tuple[SpeakerRef, ...] | None


def _target(connection: sa.Connection, model: VersionedModel, row_id: int, tx: int) -> _Target:
    """The row right after transaction ``tx``; NotFoundError unless ``tx``
    changed the row (or its members), IntegrityError when its history is
    broken."""
    row = read_row(connection, model, row_id, f"revert {model.name} {row_id}")
    issued_at = row.issued_at.get(tx)
    version = None if issued_at is None else version_at(row, issued_at, tx)
    if issued_at is None or version is None:
        raise NotFoundError(
            f"transaction {tx} did not change {model.name} {row_id}",
            f"see `audittrail history {model.name} {row_id}` for its transactions",
        )
    deleted = version.operation_type == 2
    members = None
    if model.members is not None and not deleted:
        members = members_at(row, issued_at, tx).refs
    return _Target(deleted=deleted, values=row.values(version), members=members)


@dataclass(frozen=True)
class _Current:
    values: dict[str, Any]
    members: dict[int, SpeakerRef]


def _current(connection: sa.Connection, model: VersionedModel, row_id: int) -> _Current | None:
    """The live row, locked until the transaction ends; None if it does not exist."""
    table = model.table
    row = connection.execute(
        sa.select(*(table.c[name] for name in model.fields))
        .where(table.c[model.key] == row_id)
        .with_for_update()
    ).first()
    if row is None:
        return None
    members: dict[int, SpeakerRef] = {}
    if model.members is not None:
        links = model.members.table
        member = links.c[model.members.member_column]
        rows = connection.execute(
            sa.select(member, member_name(model.members, member)).where(
                links.c[model.members.parent_column] == row_id
            )
        )
        members = {key: SpeakerRef(id=key, name=name) for key, name in rows}
    return _Current(values=dict(row._mapping), members=members)


def _check_members_exist(
    connection: sa.Connection, model: VersionedModel, row_id: int, refs: tuple[SpeakerRef, ...]
) -> None:
    members = model.members
    if members is None or members.member_table is None or not refs:
        return
    table = members.member_table
    key = table.c[members.member_key]
    wanted = [ref.id for ref in refs]
    found = set(connection.scalars(sa.select(key).where(key.in_(wanted))))
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise UsageError(
            f"cannot restore the {members.field} of {model.name} {row_id}: "
            f"{table.name} {', '.join(missing)} no longer exists",
            f"revert the {table.name} first, or choose another transaction",
        )


def _plan(
    model: VersionedModel, current: _Current | None, target: _Target
) -> tuple[Operation | None, list[FieldChange]]:
    if target.deleted:
        if current is None:
            return None, []
        # As history shows a delete: the last values go (new None), and the speakers.
        cleared = [
            FieldChange(field=name, old=value)
            for name, value in current.values.items()
            if value is not None
        ]
        if model.members is not None and current.members:
            removed = tuple(current.members[i] for i in sorted(current.members))
            cleared.append(FieldChange(field=model.members.field, removed=removed))
        return "delete", cleared
    now = current.values if current is not None else dict.fromkeys(model.fields)
    changes = [
        FieldChange(field=name, old=now[name], new=value)
        for name, value in target.values.items()
        if now[name] != value
    ]
    if target.members is not None and model.members is not None:
        present = current.members if current is not None else {}
        wanted = {ref.id: ref for ref in target.members}
        added = tuple(wanted[i] for i in sorted(wanted.keys() - present.keys()))
        removed = tuple(present[i] for i in sorted(present.keys() - wanted.keys()))
        if added or removed:
            changes.append(FieldChange(field=model.members.field, added=added, removed=removed))
    if current is None:
        return "insert", changes
    return ("update" if changes else None), changes


def _apply(
    connection: sa.Connection,
    model: VersionedModel,
    row_id: int,
    operation: Operation,
    target: _Target,
    changes: list[FieldChange],
) -> None:
    table = model.table
    mine = table.c[model.key] == row_id
    if operation == "delete":
        connection.execute(sa.delete(table).where(mine))
        return
    values = {c.field: c.new for c in changes if c.field in model.fields}
    if operation == "insert":
        connection.execute(sa.insert(table).values({model.key: row_id, **target.values}))
    elif values:
        connection.execute(sa.update(table).where(mine).values(values))
    members = model.members
    for change in changes:
        if members is None or change.field != members.field:
            continue
        links = members.table
        parent, member = links.c[members.parent_column], links.c[members.member_column]
        _check_members_exist(connection, model, row_id, change.added)
        if change.removed:
            gone = [ref.id for ref in change.removed]
            connection.execute(sa.delete(links).where(parent == row_id, member.in_(gone)))
        for ref in change.added:
            connection.execute(
                sa.insert(links).values(
                    {members.parent_column: row_id, members.member_column: ref.id}
                )
            )


def revert_row(
    engine: sa.Engine,
    model: VersionedModel,
    row_id: int,
    *,
    to_transaction: int,
    actor: str | None,
    reason: str | None,
    dry_run: bool,
) -> RevertResult:
    """Restore ``row_id`` to its state right after ``to_transaction``.

    Raises NotFoundError when that transaction did not change the row,
    IntegrityError when the row's history is broken (before anything is
    written), and UsageError when the restored row would refer to rows that
    are gone.
    """
    reason = reason or f"revert to transaction {to_transaction}"
    with (
        audit_context(actor=actor, origin="revert", reason=reason),
        session_factory(engine)() as session,
    ):
        try:
            connection = session.connection()
            target = _target(connection, model, row_id, to_transaction)
            current = _current(connection, model, row_id)
            operation, changes = _plan(model, current, target)
            recorded = None
            if operation is not None and not dry_run:
                publish_context(session)
                _apply(connection, model, row_id, operation, target, changes)
                recorded = recorded_transaction(connection)
                session.commit()
        except sa.exc.IntegrityError as error:  # leaving the session rolls back
            raise UsageError(
                f"cannot revert {model.name} {row_id} to transaction {to_transaction}:"
                f" {first_line(error)}",
                "a row it refers to may no longer exist; revert that row first",
            ) from None
    return RevertResult(
        model=model.name,
        row_id=row_id,
        to_transaction=to_transaction,
        dry_run=dry_run,
        operation=operation,
        fields=tuple(changes),
        transaction_id=recorded,
    )
