"""History queries at 200,000 sessions / 2,000,000 versions on PostgreSQL.

Builds a throwaway database with set-based SQL (``generate_series``): version
and transaction rows are inserted directly, not through the capture
triggers, but with a correct validity linkage (each version's
``end_transaction_id`` is the next version's ``transaction_id``). Then it
calls the history API for random sessions and reports the median and 95th
percentile latency and the number of SQL statements per call.

Run (PostgreSQL at 127.0.0.1:5432, user postgres, as for the tests)::

    .venv/bin/python -m benchmarks.history [--sessions 200000] [--versions 10]
        [--calls 200] [--keep]

``AUDITTRAIL_BENCH_POSTGRES_URL`` overrides the server (admin database URL).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from auditd import api, db, migrate
from auditd.config import DatabaseSettings
from auditd.models import Base

ADMIN_URL = os.environ.get(
    "AUDITTRAIL_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
# Fabricated transaction ids start far above any real xid, so they can never
# collide with a transaction the server hands out later.
BASE_TX = 2**40
SPEAKERS = 20_000
EPOCH = datetime(2025, 12, 1, tzinfo=UTC)
SECONDS_PER_TX = 10


def _admin() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def _timed(label: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


# Each step: a label and its statements. Version k of session i belongs to
# transaction base + k*n + i, so the versions of different sessions
# interleave like real edits; every version changes the state, every second
# one the start time, every third one the title. Every session gets a
# speaker when created, every fourth a second one in its sixth version.
LOAD_STEPS: list[tuple[str, list[str]]] = [
    ("transactions", ["""
        INSERT INTO "transaction" (id, issued_at, actor, origin, reason)
        SELECT :base + g,
               :epoch + g * make_interval(secs => :step),
               (ARRAY['alice', 'bob', 'carol', 'dave', 'erin'])[1 + g % 5],
               'api',
               CASE WHEN g % 7 = 0 THEN 'reschedule' END
          FROM generate_series(1, :n * :v) g"""]),
    ("events, tracks, speakers", [
        "INSERT INTO events (id, name, timezone, state)"
        " VALUES (1, 'Benchmark', 'UTC', 'published')",
        "INSERT INTO events_version (id, name, timezone, state, transaction_id, operation_type)"
        " VALUES (1, 'Benchmark', 'UTC', 'published', :base + 1, 0)",
        "INSERT INTO tracks (id, name, event_id) SELECT g, 'Track ' || g, 1"
        " FROM generate_series(1, 10) g",
        "INSERT INTO tracks_version (id, name, event_id, transaction_id, operation_type)"
        " SELECT g, 'Track ' || g, 1, :base + 1, 0 FROM generate_series(1, 10) g",
        "INSERT INTO speaker (id, name, event_id) SELECT g, 'Speaker ' || g, 1"
        " FROM generate_series(1, :speakers) g",
        "INSERT INTO speaker_version (id, name, event_id, transaction_id, operation_type)"
        " SELECT g, 'Speaker ' || g, 1, :base + g, 0 FROM generate_series(1, :speakers) g",
    ]),
    ("sessions_version", ["""
        INSERT INTO sessions_version (id, title, starts_at, ends_at, track_id, event_id, state,
                                      created_at, is_mail_sent, is_locked,
                                      transaction_id, end_transaction_id, operation_type)
        SELECT i,
               'Session ' || i || CASE WHEN k >= 3 THEN ' (rev ' || k / 3 || ')' ELSE '' END,
               timestamptz '2027-03-12 09:00+00' + (i % 50 + k / 2) * interval '1 hour',
               timestamptz '2027-03-12 09:45+00' + (i % 50 + k / 2) * interval '1 hour',
               1 + i % 10, 1,
               (ARRAY['pending', 'accepted', 'confirmed'])[1 + k % 3],
               :epoch, false, false,
               :base + k * :n + i,
               CASE WHEN k < :v - 1 THEN :base + (k + 1) * :n + i END,
               CASE WHEN k = 0 THEN 0 ELSE 1 END
          FROM generate_series(0, :v - 1) k, generate_series(1, :n) i"""]),
    ("sessions", ["""
        INSERT INTO sessions (id, title, starts_at, ends_at, track_id, event_id, state,
                              created_at, is_mail_sent, is_locked, last_modified_at)
        SELECT v.id, v.title, v.starts_at, v.ends_at, v.track_id, v.event_id, v.state,
               v.created_at, v.is_mail_sent, v.is_locked, t.issued_at
          FROM sessions_version v JOIN "transaction" t ON t.id = v.transaction_id
         WHERE v.end_transaction_id IS NULL"""]),
    ("speakers_sessions(_version)", [
        "INSERT INTO speakers_sessions_version (speaker_id, session_id, transaction_id,"
        " operation_type) SELECT 1 + i % :speakers, i, :base + i, 0"
        " FROM generate_series(1, :n) i",
        "INSERT INTO speakers_sessions_version (speaker_id, session_id, transaction_id,"
        " operation_type) SELECT 1 + (i + 1) % :speakers, i, :base + least(5, :v - 1) * :n + i,"
        " 0 FROM generate_series(4, :n, 4) i",
        "INSERT INTO speakers_sessions (speaker_id, session_id)"
        " SELECT speaker_id, session_id FROM speakers_sessions_version",
    ]),
]  # fmt: skip


def _load(connection: sa.Connection, sessions: int, versions: int) -> None:
    """Insert the domain rows, version rows and transaction rows in bulk."""
    params = {
        "n": sessions,
        "v": versions,
        "base": BASE_TX,
        "speakers": SPEAKERS,
        "epoch": EPOCH,
        "step": SECONDS_PER_TX,
    }
    # Bulk load only: no capture triggers, no FK checks (the data is consistent).
    connection.execute(sa.text("SET session_replication_role = replica"))
    for label, statements in LOAD_STEPS:
        started = time.perf_counter()
        for statement in statements:
            text = sa.text(statement)
            used = {name: value for name, value in params.items() if f":{name}" in statement}
            connection.execute(text, used)
        print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)
    connection.execute(sa.text("SET session_replication_role = DEFAULT"))


def _without_indexes(connection: sa.Connection, tables: list[str]) -> list[sa.Index]:
    """Drop the secondary indexes of ``tables`` (rebuilt after the load, faster)."""
    dropped = []
    for name in tables:
        for index in Base.metadata.tables[name].indexes:
            connection.execute(sa.text(f'DROP INDEX IF EXISTS "{index.name}"'))
            dropped.append(index)
    return dropped


def build(url: str, sessions: int, versions: int) -> None:
    engine = db.create_engine(DatabaseSettings(url=url, statement_timeout_seconds=3600))
    migrate.upgrade(engine)
    heavy = ["transaction", "sessions_version", "speakers_sessions_version"]
    with engine.begin() as connection:
        indexes = _without_indexes(connection, heavy)
        _load(connection, sessions, versions)
        started = time.perf_counter()
        for index in indexes:
            index.create(connection)
        print(f"  indexes: {time.perf_counter() - started:.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        _timed("vacuum analyze", lambda: connection.execute(sa.text("VACUUM ANALYZE")))
    engine.dispose()


def check_linkage(engine: sa.Engine, sessions: int, versions: int) -> None:
    """The load must look like captured history: one chain per session."""
    count = "SELECT count(*), count(*) FILTER (WHERE end_transaction_id IS NULL) FROM {}"
    with engine.connect() as connection:
        total, current = connection.execute(sa.text(count.format("sessions_version"))).one()
    assert (total, current) == (sessions * versions, sessions), (total, current)
    history = api.history(engine, "session", 4, newest_first=False)
    assert len(history) == versions and history[0].operation == "insert"
    assert history[min(5, versions - 1)].field("speakers") is not None


def measure(engine: sa.Engine, label: str, calls: list[Callable[[], Any]]) -> dict[str, Any]:
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    for call in calls[:20]:  # warm the pool, caches and the server's buffers
        call()
    timings, counts = [], []
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for call in calls:
            statements = 0
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
            counts.append(statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return {
        "label": label,
        "calls": len(calls),
        "median": statistics.median(timings),
        "p95": statistics.quantiles(timings, n=20)[-1],
        "statements": sorted(set(counts)),
    }


def run(url: str, sessions: int, versions: int, calls: int) -> list[dict[str, Any]]:
    engine = db.create_engine(DatabaseSettings(url=url))
    check_linkage(engine, sessions, versions)
    rng = random.Random(5)  # noqa: S311 (reproducible sample, not security)
    ids = [rng.randint(1, sessions) for _ in range(calls)]
    middle = EPOCH + timedelta(seconds=SECONDS_PER_TX * sessions * versions / 2)

    def history(row_id: int) -> Callable[[], Any]:
        return lambda: api.history(engine, "session", row_id)

    def who_changed(row_id: int) -> Callable[[], Any]:
        return lambda: api.who_changed(engine, "session", row_id, "state")

    def row_at(row_id: int) -> Callable[[], Any]:
        return lambda: api.row_at(engine, "session", row_id, at=middle)

    results = [
        measure(engine, "history(session)", [history(i) for i in ids]),
        measure(engine, "who_changed(session, state)", [who_changed(i) for i in ids]),
        measure(engine, "row_at(session, middle)", [row_at(i) for i in ids]),
    ]
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--versions", type=int, default=10, help="versions per session")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    name = f"audittrail_bench_history_{uuid.uuid4().hex[:8]}"
    with _admin().connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        print(f"building {args.sessions:,} sessions x {args.versions} versions in {name}")
        _timed("total load", lambda: build(url, args.sessions, args.versions))
        results = run(url, args.sessions, args.versions, args.calls)
    finally:
        if not args.keep:
            with _admin().connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    print()
    print(f"{'call':30} {'calls':>6} {'median ms':>10} {'p95 ms':>8} {'SQL/call':>9}")
    for r in results:
        sql = "/".join(str(n) for n in r["statements"])
        print(f"{r['label']:30} {r['calls']:>6} {r['median']:>10.2f} {r['p95']:>8.2f} {sql:>9}")


if __name__ == "__main__":
    main()
