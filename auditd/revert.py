"""Revert a row to its state right after a past transaction, through the ORM.

The revert is an ordinary attributed write (origin ``revert``): the capture
triggers record it like any other change, so it shows up in history and can
itself be reverted. The row is locked (PostgreSQL ``FOR UPDATE``; SQLite's
writer lock) before its current state is compared with the target, so a
concurrent edit cannot slip in between the comparison and the write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from auditd import db
from auditd.catalog import MODELS, TRANSACTION, VersionedModel, speakers_version
from auditd.errors import NotFoundError, UsageError, first_line
from auditd.records import SPEAKERS_FIELD, FieldChange, Operation, RevertResult, SpeakerRef
from auditd.state_at import speakers_at, version_at
from auditd.versioning import audit_context


@dataclass(frozen=True)
class _Target:
    deleted: bool
    values: dict[str, Any]
    speakers: tuple[SpeakerRef, ...] | None


def _target(connection: sa.Connection, model: VersionedModel, row_id: int, tx: int) -> _Target:
    """The row right after transaction ``tx``; NotFoundError unless ``tx``
    changed the row (or, for a session, its speakers)."""
    v = model.version
    touched = [sa.exists().where(v.c.id == row_id, v.c.transaction_id == tx)]
    if model.has_speakers:
        s = speakers_version()
        touched.append(sa.exists().where(s.c.session_id == row_id, s.c.transaction_id == tx))
    query = sa.select(TRANSACTION.c.issued_at).where(TRANSACTION.c.id == tx, sa.or_(*touched))
    issued_at: datetime | None = connection.execute(query).scalar()
    version = None if issued_at is None else version_at(connection, model, row_id, issued_at, tx)
    if issued_at is None or version is None:
        raise NotFoundError(
            f"transaction {tx} did not change {model.name} {row_id}",
            f"see `audittrail history {model.name} {row_id}` for its transactions",
        )
    deleted = version.operation_type == 2
    speakers = None
    if model.has_speakers and not deleted:
        speakers = speakers_at(connection, row_id, issued_at, tx)
    return _Target(
        deleted=deleted,
        values={name: version._mapping[name] for name in model.fields},
        speakers=speakers,
    )


def _speaker_refs(speakers: list[Any]) -> tuple[SpeakerRef, ...]:
    return tuple(SpeakerRef(id=s.id, name=s.name) for s in sorted(speakers, key=lambda s: s.id))


def _plan(
    model: VersionedModel, row: Any, target: _Target
) -> tuple[Operation | None, list[FieldChange]]:
    if target.deleted:
        return ("delete" if row is not None else None), []
    current = (
        {name: None for name in model.fields}
        if row is None
        else {name: getattr(row, name) for name in model.fields}
    )
    changes = [
        FieldChange(field=name, old=current[name], new=value)
        for name, value in target.values.items()
        if current[name] != value
    ]
    if target.speakers is not None:
        now = {} if row is None else {ref.id: ref for ref in _speaker_refs(row.speakers)}
        wanted = {ref.id: ref for ref in target.speakers}
        added = tuple(wanted[i] for i in sorted(wanted.keys() - now.keys()))
        removed = tuple(now[i] for i in sorted(now.keys() - wanted.keys()))
        if added or removed:
            changes.append(FieldChange(field=SPEAKERS_FIELD, added=added, removed=removed))
    if row is None:
        return "insert", changes
    return ("update" if changes else None), changes


def _apply(
    session: orm.Session,
    model: VersionedModel,
    row: Any,
    row_id: int,
    target: _Target,
    changes: list[FieldChange],
) -> None:
    if target.deleted:
        session.delete(row)
        return
    if row is None:
        row = model.orm_class(id=row_id)
        session.add(row)
    for change in changes:
        if change.field != SPEAKERS_FIELD:
            setattr(row, change.field, change.new)
    if target.speakers is not None and any(c.field == SPEAKERS_FIELD for c in changes):
        row.speakers = _load_speakers(session, model, row_id, target.speakers)


def _load_speakers(
    session: orm.Session, model: VersionedModel, row_id: int, refs: tuple[SpeakerRef, ...]
) -> list[Any]:
    speaker_class = MODELS["speaker"].orm_class
    wanted = [ref.id for ref in refs]
    found = {
        s.id: s
        for s in session.scalars(sa.select(speaker_class).where(speaker_class.id.in_(wanted)))
    }
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise UsageError(
            f"cannot restore the speakers of {model.name} {row_id}: "
            f"speaker {', '.join(missing)} no longer exists",
            "revert the speaker first, or choose another transaction",
        )
    return [found[i] for i in wanted]


def _recorded_transaction(connection: sa.Connection) -> int | None:
    """The id of the transaction row the triggers wrote for this transaction."""
    if connection.dialect.name == "postgresql":
        query = sa.text(
            'SELECT id FROM "transaction" WHERE id = pg_current_xact_id_if_assigned()::text::bigint'
        )
    else:
        query = sa.text("SELECT transaction_id FROM audittrail_open_transaction WHERE slot = 1")
    value = connection.execute(query).scalar()
    return None if value is None else int(value)


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

    Raises NotFoundError when that transaction did not change the row, and
    UsageError when the restored row would refer to rows that are gone.
    """
    reason = reason or f"revert to transaction {to_transaction}"
    with (
        audit_context(actor=actor, origin="revert", reason=reason),
        db.session_factory(engine)() as session,
    ):
        try:
            target = _target(session.connection(), model, row_id, to_transaction)
            row = session.get(model.orm_class, row_id, with_for_update=True, populate_existing=True)
            operation, changes = _plan(model, row, target)
            recorded = None
            if operation is not None and not dry_run:
                _apply(session, model, row, row_id, target, changes)
                session.flush()
                recorded = _recorded_transaction(session.connection())
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
