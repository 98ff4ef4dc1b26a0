"""Eight concurrent writers on the same rows: every change versioned once.

ORM sessions, bulk statements, mixed transactions and foreign raw-SQL
writers update the same 20 sessions at once, without any row locking of
their own. Afterwards each row must have exactly one version per committed
update, exactly one current version, and a validity chain that links every
version once. On PostgreSQL transaction ids are xids, which are not in
commit order under concurrency, so the chain is followed by linkage, never
by id order.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from audit_names import versions
from sqlalchemy import orm
from test_capture import assert_chain_intact, dbapi_connection, seed

from auditd import db
from auditd.capture.attribution import AuditSession, audit_context, session_factory
from auditd.models import Session
from auditd.stamps.derive import derive_last_modified

ROWS = 20
WRITERS = ("orm", "orm", "orm_bulk", "mixed", "core", "core", "dbapi", "dbapi")
# Errors a writer may meet and retry; nothing it tried in that transaction counts.
RETRYABLE = ("deadlock detected", "database is locked", "lock timeout", "could not obtain lock")

Write = Callable[[list[int], str], None]


def _writers(engine: sa.Engine, sessions: orm.sessionmaker[AuditSession]) -> dict[str, Write]:
    postgresql = engine.url.get_backend_name() == "postgresql"

    def orm_write(ids: list[int], value: str) -> None:
        with audit_context(actor="orm", origin="test"), sessions.begin() as session:
            for row in session.scalars(sa.select(Session).where(Session.id.in_(ids))):
                row.title = value

    def orm_bulk(ids: list[int], value: str) -> None:
        with audit_context(actor="bulk", origin="test"), sessions.begin() as session:
            session.execute(sa.update(Session).where(Session.id.in_(ids)).values(title=value))

    def mixed(ids: list[int], value: str) -> None:
        with audit_context(actor="mixed", origin="test"), sessions.begin() as session:
            session.get_one(Session, ids[0]).title = value
            session.flush()
            session.execute(
                sa.text("UPDATE sessions SET title = :v WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"v": value, "ids": ids[1:] or [-1]},
            )

    def core(ids: list[int], value: str) -> None:
        with db.write_transaction(engine) as connection:
            for row_id in ids:
                connection.execute(
                    sa.text("UPDATE sessions SET title = :v WHERE id = :id"),
                    {"v": value, "id": row_id},
                )

    def dbapi(ids: list[int], value: str) -> None:
        with dbapi_connection(engine) as connection:
            cursor = connection.cursor()
            if not postgresql:
                cursor.execute("BEGIN IMMEDIATE")
            marks = "%s" if postgresql else "?"
            for row_id in ids:
                cursor.execute(
                    f"UPDATE sessions SET title = {marks} WHERE id = {marks}", (value, row_id)
                )
            connection.commit()

    return {"orm": orm_write, "orm_bulk": orm_bulk, "mixed": mixed, "core": core, "dbapi": dbapi}


def _run_writers(engine: sa.Engine, ids: list[int], seconds: float) -> tuple[Counter[int], int]:
    """Run the writers until the deadline; committed updates per row, retries."""
    writers = _writers(engine, session_factory(engine))
    committed: Counter[int] = Counter()
    lock = threading.Lock()
    retries = [0]
    failures: list[BaseException] = []
    deadline = time.monotonic() + seconds
    start = threading.Barrier(len(WRITERS))

    def work(number: int, kind: str) -> None:
        rng = random.Random(number)  # noqa: S311 (reproducible choice of rows, not secrets)
        write = writers[kind]
        counter = 0
        start.wait()
        while time.monotonic() < deadline:
            chosen = sorted(rng.sample(ids, rng.randint(1, 3)))
            counter += 1
            try:
                write(chosen, f"{kind}-{number}-{counter}")
            except Exception as error:
                if not any(text in str(error) for text in RETRYABLE):
                    failures.append(error)
                    return
                with lock:
                    retries[0] += 1
                continue
            with lock:
                committed.update(chosen)

    threads = [threading.Thread(target=work, args=(n, k)) for n, k in enumerate(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    return committed, retries[0]


def _version_counts(engine: sa.Engine) -> tuple[Counter[int], Counter[int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT id, operation_type, end_transaction_id"
                f" FROM {versions(connection, 'sessions')}"
            )
        ).all()
    updates = Counter(row_id for row_id, op, _ in rows if op == 1)
    current = Counter(row_id for row_id, _, end in rows if end is None)
    return updates, current


def test_concurrent_writers_version_every_committed_change_exactly_once(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession], backend: str
) -> None:
    ids, _ = seed(sessions, talks=ROWS, speakers=0)
    # SQLite serialises writers, so a shorter run sees as many conflicts.
    committed, _retries = _run_writers(engine, ids, 3.0 if backend == "postgresql" else 1.5)
    updates, current = _version_counts(engine)
    assert sum(committed.values()) > 4 * ROWS  # the writers really overlapped
    assert {i: updates[i] for i in ids} == {i: committed[i] for i in ids}
    assert {i: current[i] for i in ids} == dict.fromkeys(ids, 1)
    assert_chain_intact(engine, "sessions", "id")
    with engine.connect() as connection:
        derived = derive_last_modified(connection, ids)
        stored: dict[Any, Any] = dict(
            connection.execute(sa.select(Session.id, Session.last_modified_at)).all()
        )
    assert derived == {i: stored[i] for i in ids}
