"""ORM sessions whose writes carry the current :func:`audit_context`.

Before its first write in a database transaction, an :class:`AuditSession`
publishes the current context where the capture triggers read it when they
create the transaction row (PostgreSQL: transaction-local settings; SQLite:
the slot row). See :mod:`.postgresql` and :mod:`.sqlite` for each side, and
:mod:`.deferred` for how psycopg2 sends the call with that write.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from auditd.capture.attribution import deferred, postgresql, sqlite
from auditd.capture.attribution.context import current_context
from auditd.db import writer

_PUBLISHED = "audittrail_context_published_in"
_DEFERRED_ON = "audittrail_context_deferred_on"
_SLOT_FILLED = "audittrail_sqlite_slot_filled"


def publish_context(session: orm.Session) -> None:
    """Hand the current :class:`AuditContext` to the capture triggers.

    Idempotent within a (sub)transaction. Called automatically by
    :class:`AuditSession` before flushes and bulk statements; call it
    yourself before a raw statement sent through ``session.connection()``
    as the transaction's first write.
    """
    _publish(session, defer=False)


def _publish(session: orm.Session, *, defer: bool) -> None:
    """:func:`publish_context`; with ``defer``, on PostgreSQL the call may
    go out with the connection's next statement (:mod:`.deferred`)."""
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
        if defer and deferred.defer(connection, params):
            session.info[_DEFERRED_ON] = connection
        else:
            connection.execute(postgresql.publish(connection), params)
    else:
        connection.execute(sqlite.PUBLISH, params)
        session.info[_SLOT_FILLED] = True
    session.info[_PUBLISHED] = transaction


def recorded_transaction(connection: sa.Connection) -> int | None:
    """The id of the transaction row capture wrote for the connection's
    current transaction (None before its first captured write)."""
    query = (
        postgresql.CURRENT_TRANSACTION
        if connection.dialect.name == "postgresql"
        else sqlite.CURRENT_TRANSACTION
    )
    value = connection.execute(query).scalar()
    return None if value is None else int(value)


class AuditSession(orm.Session):
    """An ORM session whose writes are attributed to :func:`audit_context`."""


@sa.event.listens_for(AuditSession, "before_flush")
def _publish_before_flush(session: orm.Session, flush_context: Any, instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        _publish(session, defer=True)


@sa.event.listens_for(AuditSession, "do_orm_execute")
def _publish_before_bulk_statement(state: orm.ORMExecuteState) -> None:
    if not state.is_select:
        _publish(state.session, defer=True)


@sa.event.listens_for(AuditSession, "after_transaction_end")
def _forget_published(session: orm.Session, transaction: orm.SessionTransaction) -> None:
    if session.info.get(_PUBLISHED) is transaction:
        del session.info[_PUBLISHED]
        connection = session.info.pop(_DEFERRED_ON, None)
        if connection is not None:
            deferred.forget(connection)
    if transaction.parent is None:
        session.info.pop(_SLOT_FILLED, None)


@sa.event.listens_for(AuditSession, "before_commit")
def _clear_sqlite_context(session: orm.Session) -> None:
    # Flush first so every write still sees the slot. Releasing a savepoint
    # also fires before_commit; the transaction goes on, and so does the slot.
    session.flush()
    if session.info.get(_SLOT_FILLED) and not session.in_nested_transaction():
        session.connection().execute(sqlite.CLEAR)


def session_factory(engine: sa.Engine) -> orm.sessionmaker[AuditSession]:
    """Sessions whose writes carry the current :func:`audit_context`."""
    return orm.sessionmaker(writer(engine), class_=AuditSession, expire_on_commit=False)
