"""Plans that do not depend on luck: verify with stale planner statistics.

The test cluster runs without autovacuum, as some production clusters do.
A database analysed while small and then grown by many transactions keeps
statistics that describe the small one; the derivation must not turn that
into a per-row scan (it once did: 15.5 s against 1.5 s after ANALYZE), and
the daemon analyses what went stale before a full pass.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import create_postgres_database, drop_postgres_database, postgres_url
from test_daemon_support import add_sessions

from auditd import db
from auditd.config import DatabaseSettings, load_settings
from auditd.daemon.jobs import run_job

pytestmark = pytest.mark.postgresql_only

SESSIONS = 2_000
TRANSACTIONS = 30_000
REPETITIONS = 3


def _engine(url: str) -> sa.Engine:
    return db.create_engine(DatabaseSettings(url=url), poolclass=sa.NullPool)


def _analyze(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")


def _grow_without_analyze(engine: sa.Engine) -> None:
    """Commit many captured single-row transactions (each its own xid,
    transaction row and version)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SET synchronous_commit = off")
        connection.exec_driver_sql(
            f"""
            DO $$
            DECLARE first integer := (SELECT min(id) FROM sessions);
            BEGIN
                FOR i IN 1..{TRANSACTIONS} LOOP
                    UPDATE sessions SET title = 'edit ' || i WHERE id = first + mod(i, {SESSIONS});
                    COMMIT;
                END LOOP;
            END $$"""
        )
        connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")


@pytest.fixture
def stale_database(database_url: str) -> Iterator[str]:
    """The name of a database analysed while it had no rows (as a database is
    when its schema is created, or adopted before its history), that then
    grew to 2,000 sessions changed by 30,000 transactions."""
    engine = _engine(database_url)
    _analyze(engine)
    add_sessions(engine, SESSIONS)
    _grow_without_analyze(engine)
    engine.dispose()
    yield sa.make_url(database_url).database or ""


def _timed_verify(template: str) -> float:
    """Seconds of one verify run on a fresh copy of ``template``; a copy keeps
    the template's statistics but starts with no change counters, so the run
    does not analyse anything first and plans with what it finds."""
    name = create_postgres_database(template=template)
    try:
        url = postgres_url(name)
        engine = _engine(url)
        settings = load_settings(environ={}, overrides={"database.url": url})
        started = time.perf_counter()
        record = run_job(engine, settings, "verify")
        elapsed = time.perf_counter() - started
        engine.dispose()
    finally:
        drop_postgres_database(name)
    assert record is not None and record.status == "succeeded"
    assert (record.rows_scanned, record.rows_drifted) == (SESSIONS, 0)
    return elapsed


def test_verify_with_stale_statistics_stays_within_twice_its_time_after_analyze(
    stale_database: str,
) -> None:
    analysed = create_postgres_database(template=stale_database)
    try:
        engine = _engine(postgres_url(analysed))
        _analyze(engine)
        engine.dispose()
        stale, fresh = [], []
        for _ in range(REPETITIONS):  # alternating, so both see the same machine load
            stale.append(_timed_verify(stale_database))
            fresh.append(_timed_verify(analysed))
    finally:
        drop_postgres_database(analysed)

    assert statistics.median(stale) <= 2 * statistics.median(fresh), (stale, fresh)


def test_a_full_pass_first_analyses_the_audit_tables_whose_statistics_went_stale(
    stale_database: str,
) -> None:
    url = postgres_url(stale_database)
    engine = _engine(url)
    last_analyze = sa.text(
        "SELECT relname, last_analyze FROM pg_stat_user_tables"
        " WHERE schemaname = 'audittrail' AND relname IN"
        " ('audittrail_transaction', 'audittrail_sessions_version', 'audittrail_events_version')"
    )
    with engine.connect() as connection:
        before = dict(connection.execute(last_analyze).all())

    record = run_job(engine, load_settings(environ={}, overrides={"database.url": url}), "verify")

    with engine.connect() as connection:
        after = dict(connection.execute(last_analyze).all())
    engine.dispose()
    assert record is not None and record.status == "succeeded"
    assert after["audittrail_transaction"] > before["audittrail_transaction"]
    assert after["audittrail_sessions_version"] > before["audittrail_sessions_version"]
    assert after["audittrail_events_version"] == before["audittrail_events_version"], (
        "an unchanged table was analysed"
    )
