"""Publishing the context in the same round trip as the next statement (psycopg2).

On PostgreSQL, publishing the context is a call of its own
(:func:`~auditd.capture.attribution.postgresql.publish`), one round trip
more than a raw SQL writer makes: in a single-row ORM transaction, about a
sixth of its time. psycopg2 sends a statement and its parameters as one
simple query, which may hold several statements, so an
:class:`~auditd.capture.attribution.session.AuditSession` that is about to
flush (or to run a bulk statement) leaves the call with the connection
(:func:`defer`), and the connection's next statement, the write it
precedes, carries it in front: ``SELECT audittrail_set_context(...);
UPDATE ...``. The results are the last statement's, as without it.

When the next statement cannot carry it (run for many parameter sets,
through a server-side cursor, without parameters, or with parameters named
as the call's), the call goes out on its own just before it, as it would
have without deferring. Other drivers, and
:func:`~auditd.capture.attribution.session.publish_context` called by hand
(the write after it may be sent past SQLAlchemy, on the raw driver
connection), publish at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa

from auditd.capture.attribution.postgresql import publish_call
from auditd.models.namespace import audit_schema

__all__ = ["defer", "forget"]

# The call each connection's next statement is to carry, and its arguments.
_PENDING: WeakKeyDictionary[sa.Connection, tuple[str, dict[str, Any]]] = WeakKeyDictionary()


@lru_cache(maxsize=16)
def _driver_call(dialect: sa.Dialect, schema: str | None) -> str:
    """:func:`publish_call` as the driver receives it, compiled once (about
    20 µs a time, a fortieth of a single-row ORM transaction)."""
    return str(publish_call(schema).compile(dialect=dialect))


def defer(connection: sa.Connection, context: Mapping[str, Any]) -> bool:
    """Leave the publishing call of ``context`` (actor, origin, reason,
    remote_addr) to ``connection``'s next statement; False, leaving nothing,
    when the driver is not psycopg2."""
    if connection.dialect.driver != "psycopg2":
        return False
    call = _driver_call(connection.dialect, audit_schema(connection))
    _PENDING[connection] = (call, dict(context))
    return True


def forget(connection: sa.Connection) -> None:
    """Drop a call ``connection`` has not sent (its transaction is over)."""
    _PENDING.pop(connection, None)


@sa.event.listens_for(sa.Engine, "before_cursor_execute", retval=True)
def _carry_pending_call(
    connection: sa.Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    if not _PENDING:  # every statement of every engine passes here
        return statement, parameters
    pending = _PENDING.pop(connection, None)
    if pending is None:
        return statement, parameters
    call, arguments = pending
    if (
        executemany
        or cursor.name is not None  # a server-side cursor: DECLARE takes one query
        or not isinstance(parameters, dict)
        or not parameters
        or (arguments.keys() & parameters.keys())
    ):
        # A cursor of its own: a server-side cursor executes only once.
        with connection.connection.dbapi_connection.cursor() as own:  # type: ignore[union-attr]
            own.execute(call, arguments)
        return statement, parameters
    return f"{call}; {statement}", {**parameters, **arguments}
