"""SQLAlchemy-Continuum set-up and the attribution context for ORM writes.

Continuum builds the version tables and classes (``SessionVersion``, ...) and
their relationships; the *database* writes every version row, through the
capture triggers in :mod:`auditd.capture`, for the ORM and for every other
writer alike. That is why Continuum's unit of work is never attached to a
session here: with two writers of version rows, an ORM write would be
versioned twice (or, for statements Continuum cannot see, zero times).

What the ORM adds is attribution: before its first write in a database
transaction, an :class:`AuditSession` publishes the current
:func:`audit_context` (actor, origin, reason, remote address) where the
triggers read it when they create the transaction row.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy_continuum import VersioningManager
from sqlalchemy_continuum.plugins import Plugin

from auditd.errors import UsageError


class _LeanVersionIndexes(Plugin):  # type: ignore[misc]  # Continuum is untyped
    """Index a version table by ``transaction_id`` only (plus its primary key).

    Every index of a version table is written twice per captured change:
    once for the new version and once more when its predecessor is closed
    (setting ``end_transaction_id`` is never a HOT update, as an index covers
    it). Continuum's own set (``end_transaction_id``, ``operation_type``,
    two composites, copies of the parent's indexed columns) serves none of
    our queries that the primary key and the predecessor indexes of
    :mod:`auditd.models.indexes` do not; dropping it measured 1.70x -> 1.53x
    capture cost for 500-row ORM batches.
    """

    def after_build_version_table_columns(self, table_builder: Any, columns: list[Any]) -> None:
        for column in columns:
            if column.name != "transaction_id":
                column.index = None


versioning_manager = VersioningManager(
    options={"strategy": "validity", "create_composite_index": False},
    plugins=[_LeanVersionIndexes()],
)
# Build version tables and classes for every mapped class with __versioned__;
# this must run before the models are declared (auditd.models imports us first).
versioning_manager.apply_class_configuration_listeners(orm.Mapper)

ORIGINS = frozenset({"api", "cli", "job", "sql", "baseline", "revert", "demo", "test"})


@dataclass(frozen=True, kw_only=True)
class AuditContext:
    """Who is writing, from where and why; stored on each transaction row."""

    actor: str | None = None
    origin: str = "api"
    reason: str | None = None
    remote_addr: str | None = None

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise UsageError(
                f"unknown origin {self.origin!r}", f"one of: {', '.join(sorted(ORIGINS))}"
            )
        if self.actor is not None and not (0 < len(self.actor) <= 255):
            raise UsageError("actor must be 1 to 255 characters")
        if self.remote_addr is not None and len(self.remote_addr) > 50:
            raise UsageError("remote_addr must be at most 50 characters")


_current: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "audittrail_context",
    default=AuditContext(),  # noqa: B039 - frozen, so sharing the default is safe
)


@contextmanager
def audit_context(
    actor: str | None = None,
    origin: str = "api",
    reason: str | None = None,
    remote_addr: str | None = None,
) -> Iterator[AuditContext]:
    """Attribute the ORM writes made inside the block.

    The context is read when a database transaction first writes, so a
    transaction is attributed to the context active at its first flush.
    Raises :class:`UsageError` for an unknown origin or an oversized value.
    """
    token = _current.set(
        AuditContext(actor=actor, origin=origin, reason=reason, remote_addr=remote_addr)
    )
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def current_context() -> AuditContext:
    """The attribution that the next transaction will carry."""
    return _current.get()


_PUBLISHED = "audittrail_context_published_in"
_SLOT_FILLED = "audittrail_sqlite_slot_filled"

# SQLite has no per-transaction variables; the single-writer lock makes one
# slot row enough. It is cleared again before COMMIT (see _clear_sqlite_context),
# so a slot without a statement stamp is this transaction's own (published
# before a savepoint): its transaction row is kept, as on PostgreSQL. A stamped
# slot was left by a foreign writer's statement and starts a new transaction.
_SQLITE_PUBLISH = sa.text(
    "INSERT INTO audittrail_open_transaction"
    " (slot, transaction_id, statement_stamp, actor, origin, reason, remote_addr)"
    " VALUES (1, NULL, NULL, :actor, :origin, :reason, :remote_addr)"
    " ON CONFLICT (slot) DO UPDATE SET transaction_id = CASE"
    " WHEN audittrail_open_transaction.statement_stamp IS NULL"
    " THEN audittrail_open_transaction.transaction_id END, statement_stamp = NULL,"
    " actor = excluded.actor, origin = excluded.origin, reason = excluded.reason,"
    " remote_addr = excluded.remote_addr"
)
_POSTGRESQL_PUBLISH = sa.text(
    "SELECT set_config('audittrail.actor', coalesce(:actor, ''), true),"
    " set_config('audittrail.origin', :origin, true),"
    " set_config('audittrail.reason', coalesce(:reason, ''), true),"
    " set_config('audittrail.remote_addr', coalesce(:remote_addr, ''), true)"
)


def publish_context(session: orm.Session) -> None:
    """Hand the current :class:`AuditContext` to the capture triggers.

    Idempotent within a (sub)transaction. Called automatically by
    :class:`AuditSession` before flushes and bulk statements.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None or session.info.get(_PUBLISHED) is transaction:
        return
    connection = session.connection()
    context = current_context()
    params = {
        "actor": context.actor,
        "origin": context.origin,
        "reason": context.reason,
        "remote_addr": context.remote_addr,
    }
    if connection.dialect.name == "postgresql":
        connection.execute(_POSTGRESQL_PUBLISH, params)
    else:
        connection.execute(_SQLITE_PUBLISH, params)
        session.info[_SLOT_FILLED] = True
    session.info[_PUBLISHED] = transaction


class AuditSession(orm.Session):
    """An ORM session whose writes are attributed to :func:`audit_context`."""


@sa.event.listens_for(AuditSession, "before_flush")
def _publish_before_flush(session: orm.Session, flush_context: Any, instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        publish_context(session)


@sa.event.listens_for(AuditSession, "do_orm_execute")
def _publish_before_bulk_statement(state: orm.ORMExecuteState) -> None:
    if not state.is_select:
        publish_context(state.session)


@sa.event.listens_for(AuditSession, "after_transaction_end")
def _forget_published(session: orm.Session, transaction: orm.SessionTransaction) -> None:
    if session.info.get(_PUBLISHED) is transaction:
        del session.info[_PUBLISHED]
    if transaction.parent is None:
        session.info.pop(_SLOT_FILLED, None)


@sa.event.listens_for(AuditSession, "before_commit")
def _clear_sqlite_context(session: orm.Session) -> None:
    # The slot row must not outlive this transaction, or the next writer would
    # be filed under our transaction. Flush first so every write still sees it.
    # Releasing a savepoint also fires before_commit; the transaction goes on.
    session.flush()
    if session.info.get(_SLOT_FILLED) and not session.in_nested_transaction():
        session.connection().execute(sa.text("DELETE FROM audittrail_open_transaction"))
