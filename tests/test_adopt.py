"""`audittrail adopt`: an existing database gets a complete, resumable,
idempotent baseline and capture of every column it really has."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa
from audit_names import transactions, versions
from test_capture import assert_chain_intact, run_dbapi
from test_cli_admin import assert_one_line_error, run_cli

from auditd import capture, db, migrate, registry
from auditd.adoption.adopt import AdoptionResult, BatchDone, adopt, adopted_tables
from auditd.config import DatabaseSettings
from auditd.errors import CaptureError, UsageError
from auditd.models.namespace import current_layout
from auditd.stamps.derive import derive_last_modified

SESSIONS = 23
KNOWN_ROWS = {"events": 1, "tracks": 2, "speaker": 3, "sessions": SESSIONS, "speakers_sessions": 4}


# Open Event Server's own history at its head (SQLAlchemy-Continuum, strategy
# "subquery"): its transaction table and events_version, written by the app.
OPEN_EVENT_HISTORY = ("alembic_version", "events_version", "transaction", "users")


def open_event_schema(dialect: str) -> list[str]:
    """An Open Event Server-like database at its head, created without our
    migrations: its live tables with columns our models do not declare, its
    own alembic_version, and its Continuum history of events (transaction
    with bigint ids from transaction_id_seq and naive issued_at,
    events_version without end_transaction_id, columns since renamed or
    dropped from events)."""
    stamp = "timestamp with time zone" if dialect == "postgresql" else "DATETIME"
    naive = "timestamp without time zone" if dialect == "postgresql" else "DATETIME"
    transaction_id = (
        "id bigint DEFAULT nextval('transaction_id_seq') PRIMARY KEY"
        if dialect == "postgresql"
        else "id INTEGER PRIMARY KEY"
    )
    document = "json" if dialect == "postgresql" else "JSON"
    sessions = [
        f"({i}, 'Talk {i}', 'accepted', NULL, NULL, 4.5, '{{\"room\": {i}}}', 1, {1 + i % 2}, "
        + ("NULL" if i % 3 == 0 else "'2024-01-01 10:00:00+00'")
        + ")"
        for i in range(1, SESSIONS + 1)
    ]
    sequence = ["CREATE SEQUENCE transaction_id_seq"] if dialect == "postgresql" else []
    return [
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('open-event-head')",
        "CREATE TABLE users (id integer PRIMARY KEY, _email varchar(120))",
        "INSERT INTO users VALUES (7, 'organizer@example.org')",
        *sequence,
        f'CREATE TABLE "transaction" (issued_at {naive}, {transaction_id},'
        " remote_addr varchar(50), user_id integer REFERENCES users (id))",
        f"CREATE TABLE events_version (id integer NOT NULL, name varchar(255),"
        f" start_time {naive}, deleted_at {naive}, location_name varchar(255),"
        " transaction_id bigint NOT NULL, operation_type smallint NOT NULL,"
        " PRIMARY KEY (id, transaction_id))",
        f"CREATE TABLE events (id integer PRIMARY KEY, name varchar(255) NOT NULL,"
        f" starts_at {stamp}, deleted_at {stamp})",
        "CREATE TABLE tracks (id integer PRIMARY KEY, name varchar(255),"
        " event_id integer REFERENCES events (id))",
        "CREATE TABLE speaker (id integer PRIMARY KEY, name varchar(255),"
        " event_id integer REFERENCES events (id), website varchar(255))",
        f"CREATE TABLE sessions (id integer PRIMARY KEY, title varchar(255) NOT NULL,"
        f" state varchar(32), website varchar(255), twitter varchar(255),"
        f" average_rating numeric(4, 2), complex_field_values {document},"
        f" event_id integer REFERENCES events (id), track_id integer REFERENCES tracks (id),"
        f" last_modified_at {stamp})",
        "CREATE INDEX ix_sessions_event_id ON sessions (event_id)",
        "CREATE TABLE speakers_sessions (speaker_id integer REFERENCES speaker (id),"
        " session_id integer REFERENCES sessions (id), PRIMARY KEY (speaker_id, session_id))",
        "CREATE TABLE tickets (id integer PRIMARY KEY, name varchar(255), price numeric(8, 2))",
        "INSERT INTO events VALUES (1, 'FOSSASIA', NULL, NULL)",
        "INSERT INTO tracks VALUES (1, 'Databases', 1), (2, 'Web', 1)",
        "INSERT INTO speaker VALUES (1, 'Ada', 1, 'https://ada.example'),"
        " (2, 'Grace', 1, NULL), (3, 'Linus', 1, NULL)",
        "INSERT INTO sessions VALUES " + ", ".join(sessions),
        "INSERT INTO speakers_sessions VALUES (1, 1), (2, 1), (3, 2), (1, 5)",
        "INSERT INTO tickets VALUES (1, 'Early bird', 10)",
        'INSERT INTO "transaction" (id, issued_at, remote_addr, user_id) VALUES'
        " (1, '2016-02-01 09:00:00', '10.0.0.1', 7), (2, '2016-03-01 17:30:00', NULL, 7)",
        "INSERT INTO events_version VALUES"
        " (1, 'FOSSASIA 2016', '2016-03-18 09:00:00', NULL, 'Singapore', 1, 0),"
        " (1, 'FOSSASIA', '2016-03-18 09:00:00', NULL, NULL, 2, 1)",
        *(["SELECT setval('transaction_id_seq', 2)"] if dialect == "postgresql" else []),
    ]


@pytest.fixture
def open_event(empty_database_url: str) -> Iterator[sa.Engine]:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    with db.write_transaction(engine) as connection:
        for statement in open_event_schema(engine.dialect.name):
            connection.exec_driver_sql(statement)
    yield engine
    engine.dispose()


class Interrupted(Exception):
    """Stands for a crash or Ctrl-C between two batches."""


def crash_after(batches: int) -> Any:
    def progress(batch: BatchDone) -> None:
        if batch.batches >= batches:
            raise Interrupted

    return progress


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to prove a run changed nothing."""
    with engine.connect() as connection:
        tables = sa.inspect(connection).get_table_names()
        return {
            table: sorted(
                (
                    tuple(str(bytes(v)) if isinstance(v, memoryview) else str(v) for v in row)
                    for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))
                ),
            )
            for table in tables
        }


def _baseline_versions(engine: sa.Engine, table: str) -> int:
    """Versions in ``table``'s version table so far; 0 before it exists."""
    try:
        return version_counts(engine)[table][0]
    except sa.exc.DBAPIError:
        return 0


def version_counts(engine: sa.Engine) -> dict[str, tuple[int, int]]:
    """Per known table: (versions, distinct transactions)."""
    with engine.connect() as connection:
        return {
            table: tuple(  # type: ignore[misc]
                connection.execute(
                    sa.text(
                        "SELECT count(*), count(DISTINCT transaction_id)"
                        f" FROM {versions(connection, table)}"
                    )
                ).one()
            )
            for table in KNOWN_ROWS
        }


def test_interrupted_adoption_resumes_to_a_complete_baseline_and_then_changes_nothing(
    open_event: sa.Engine,
) -> None:
    with pytest.raises(Interrupted):
        adopt(open_event, batch_size=4, progress=crash_after(4))
    partial = version_counts(open_event)
    assert 0 < sum(n for n, _ in partial.values()) < sum(KNOWN_ROWS.values())

    second = adopt(open_event, batch_size=4)
    assert second.complete
    assert version_counts(open_event) == {table: (rows, 1) for table, rows in KNOWN_ROWS.items()}
    with open_event.connect() as connection:
        origins = (
            connection.execute(sa.text(f"SELECT origin FROM {transactions(connection)}"))
            .scalars()
            .all()
        )
        assert origins == ["baseline"]
        stored = dict(
            connection.execute(sa.text("SELECT id, last_modified_at FROM sessions")).all()
        )
        derived = derive_last_modified(connection)
        assert all(value is not None for value in derived.values())
        assert len(derived) == SESSIONS and set(derived) == set(stored)
        assert derive_last_modified(connection) == _typed_stamps(connection)
        assert capture.verify(connection) == []

    before = snapshot(open_event)
    third = adopt(open_event, batch_size=4)
    assert (third.complete, third.changed, third.batches) == (True, False, 0)
    assert snapshot(open_event) == before


def _typed_stamps(connection: sa.Connection) -> dict[int, Any]:
    from auditd.models import Session

    return dict(connection.execute(sa.select(Session.id, Session.last_modified_at)).all())


def test_writes_between_an_interruption_and_the_rerun_keep_one_chain_per_row(
    open_event: sa.Engine,
) -> None:
    with pytest.raises(Interrupted):
        adopt(open_event, batch_size=4, progress=crash_after(5))  # sessions 1-8 baselined
    run_dbapi(open_event, [("UPDATE sessions SET title = 'Early' WHERE id = ?", (2,))])
    run_dbapi(open_event, [("UPDATE sessions SET title = 'Late' WHERE id = ?", (20,))])
    adopt(open_event, batch_size=4)
    with open_event.connect() as connection:
        rows = connection.execute(
            sa.text(
                f"SELECT id, title, operation_type FROM {versions(connection, 'sessions')}"
                " WHERE id IN (2, 20)"
                " ORDER BY id, operation_type"
            )
        ).all()
        assert derive_last_modified(connection) == _typed_stamps(connection)
    # Row 2 had its baseline before the edit; row 20 was edited before its
    # baseline, so the edit is its first version and no baseline is added.
    assert [tuple(r) for r in rows] == [(2, "Talk 2", 0), (2, "Early", 1), (20, "Late", 1)]
    assert_chain_intact(open_event, "sessions", "id")


def test_adopted_tables_capture_columns_the_models_do_not_declare(open_event: sa.Engine) -> None:
    result = adopt(open_event)
    sessions = next(t for t in result.tables if t.table == "sessions")
    assert {"website", "twitter", "average_rating", "complex_field_values"} <= set(sessions.columns)
    assert "last_modified_at" not in sessions.columns
    run_dbapi(open_event, [("UPDATE sessions SET website = ? WHERE id = ?", ("https://talk", 3))])
    run_dbapi(
        open_event,
        [("UPDATE sessions SET complex_field_values = ? WHERE id = ?", ('{"room": 99}', 3))],
    )
    with open_event.connect() as connection:
        rows = connection.execute(
            sa.text(
                f"SELECT website, operation_type FROM {versions(connection, 'sessions')}"
                " WHERE id = 3 ORDER BY operation_type, website"
            )
        ).all()
        assert derive_last_modified(connection, [3]) == {3: _typed_stamps(connection)[3]}
    assert [tuple(r) for r in rows] == [(None, 0), ("https://talk", 1), ("https://talk", 1)]


def test_unknown_tables_are_listed_and_left_untouched(open_event: sa.Engine) -> None:
    before = snapshot(open_event)
    result = adopt(open_event)
    assert result.untouched_tables == tuple(sorted((*OPEN_EVENT_HISTORY, "tickets")))
    after = snapshot(open_event)
    assert {t: after[t] for t in result.untouched_tables} == {
        t: before[t] for t in result.untouched_tables
    }
    with open_event.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
    assert "tickets_version" not in tables
    assert adopted_tables_of(open_event) == sorted(KNOWN_ROWS)


def adopted_tables_of(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return adopted_tables(connection)


def test_sessions_without_last_modified_at_get_the_column(empty_database_url: str) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    with db.write_transaction(engine) as connection:
        connection.exec_driver_sql(
            "CREATE TABLE sessions (id integer PRIMARY KEY, title varchar(50))"
        )
        connection.exec_driver_sql("INSERT INTO sessions VALUES (1, 'Keynote')")
        connection.exec_driver_sql(
            "CREATE TABLE speakers_sessions (speaker_id integer, session_id integer,"
            " PRIMARY KEY (speaker_id, session_id))"
        )
    result = adopt(engine)
    sessions, _ = result.tables
    assert sessions.added_stamp_column and sessions.stamps_repaired == 1
    with engine.connect() as connection:
        assert derive_last_modified(connection) == _typed_stamps(connection)
        assert capture.verify(connection) == []
    engine.dispose()


def test_a_column_added_after_adoption_is_versioned_after_a_rerun(open_event: sa.Engine) -> None:
    adopt(open_event)
    with db.write_transaction(open_event) as connection:
        connection.exec_driver_sql("ALTER TABLE sessions ADD COLUMN slides varchar(255)")
        problems = [str(p) for p in capture.verify(connection)]
    assert problems == ["sessions: column slides is not in audittrail_sessions_version"]
    result = adopt(open_event)
    assert next(t for t in result.tables if t.table == "sessions").added_version_columns == (
        "slides",
    )
    run_dbapi(open_event, [("UPDATE sessions SET slides = 'deck.pdf' WHERE id = ?", (1,))])
    with open_event.connect() as connection:
        assert capture.verify(connection) == []
        assert (
            connection.execute(
                sa.text(
                    f"SELECT slides FROM {versions(connection, 'sessions')}"
                    " WHERE id = 1 AND end_transaction_id IS NULL"
                )
            ).scalar_one()
            == "deck.pdf"
        )


@pytest.mark.postgresql_only
def test_a_dropped_column_is_reported_and_a_rerun_makes_writes_work_again(
    open_event: sa.Engine,
) -> None:
    adopt(open_event)
    with db.write_transaction(open_event) as connection:
        connection.exec_driver_sql("ALTER TABLE sessions DROP COLUMN twitter")
        problems = [str(p) for p in capture.verify(connection)]
    assert problems == [
        "sessions: captured column twitter no longer exists"
        " (writes fail until the triggers are regenerated)"
    ]
    with pytest.raises(psycopg2.Error, match="twitter"):
        run_dbapi(open_event, [("UPDATE sessions SET title = 'x' WHERE id = ?", (1,))])
    adopt(open_event)
    run_dbapi(open_event, [("UPDATE sessions SET title = 'x' WHERE id = ?", (1,))])
    with open_event.connect() as connection:
        assert capture.verify(connection) == []


def test_adopt_refuses_databases_it_must_not_touch(
    empty_database_url: str, database_url: str
) -> None:
    empty = db.create_engine(DatabaseSettings(url=empty_database_url))
    with pytest.raises(UsageError, match="none of the tables"):
        adopt(empty)
    with db.write_transaction(empty) as connection:
        connection.exec_driver_sql("CREATE TABLE sessions (id integer PRIMARY KEY)")
        # An application's own transaction table is not in the way; one of
        # ours left behind without our revision is.
        connection.exec_driver_sql('CREATE TABLE "transaction" (id integer PRIMARY KEY)')
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("CREATE SCHEMA audittrail")
        connection.exec_driver_sql(f"CREATE TABLE {transactions(connection)} (id integer)")
    with pytest.raises(CaptureError, match="earlier audittrail history"):
        adopt(empty)
    empty.dispose()
    managed = db.create_engine(DatabaseSettings(url=database_url))
    with pytest.raises(UsageError, match="created by `audittrail migrate`"):
        adopt(managed)
    managed.dispose()


@pytest.mark.postgresql_only
def test_adopt_refuses_a_stamp_column_without_time_zone(empty_database_url: str) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    with db.write_transaction(engine) as connection:
        connection.exec_driver_sql(
            "CREATE TABLE sessions (id integer PRIMARY KEY, last_modified_at timestamp)"
        )
    with pytest.raises(CaptureError, match="without time zone"):
        adopt(engine)
    with engine.connect() as connection:
        layout = current_layout(connection)
        assert not sa.inspect(connection).has_table(
            layout.version_table("sessions"), schema=layout.schema
        )
    engine.dispose()


def _drop_open_event_history(engine: sa.Engine) -> None:
    """An adopted database whose application keeps no history of its own can
    go back below revision 0010 (whose names Open Event's own history holds)."""
    for table in ("events_version", "transaction"):
        with db.write_transaction(engine) as connection:
            connection.exec_driver_sql(f'DROP TABLE "{table}"')
    if engine.dialect.name == "postgresql":
        with db.write_transaction(engine) as connection:
            connection.exec_driver_sql("DROP SEQUENCE transaction_id_seq")


def test_downgrading_an_adopted_database_keeps_its_own_tables(open_event: sa.Engine) -> None:
    _drop_open_event_history(open_event)
    adopt(open_event)
    before = snapshot(open_event)
    migrate.downgrade(open_event, "base")
    after = snapshot(open_event)
    kept = [*KNOWN_ROWS, "tickets", "alembic_version", "users"]
    assert {t: after[t] for t in kept} == {t: before[t] for t in kept}
    assert not [
        t
        for t in after
        if t.endswith("_version") and t not in OPEN_EVENT_HISTORY and t != migrate.VERSION_TABLE
    ]
    assert "transaction" not in after
    result: AdoptionResult = adopt(open_event)  # and it can be adopted again
    assert result.complete and version_counts(open_event)["sessions"] == (SESSIONS, 1)


def test_cli_adopt_reports_what_it_did_and_refuses_with_one_line(
    open_event: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    url = open_event.url.render_as_string(hide_password=False)
    first = run_cli(
        "--database-url", url, "adopt", "--batch-size", "10", "--max-batches", "2", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "stopped after 2 batches" in first.stdout
    second = run_cli("--database-url", url, "adopt", "--batch-size", "10", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "adoption complete" in second.stdout
    assert (
        "left untouched (not versioned): alembic_version, events_version, tickets,"
        " transaction, users" in second.stdout
    )
    refused = run_cli("--database-url", database_url, "adopt", cwd=tmp_path)
    assert_one_line_error(refused, 2, "audittrail migrate")


def test_migrate_refuses_an_existing_database_and_points_to_adopt(
    open_event: sa.Engine, tmp_path: Path
) -> None:
    before = snapshot(open_event)
    url = open_event.url.render_as_string(hide_password=False)
    refused = run_cli("--database-url", url, "migrate", cwd=tmp_path)
    assert_one_line_error(refused, 5, "audittrail adopt")
    assert "sessions" in refused.stderr
    assert snapshot(open_event) == before


def test_adopted_version_tables_are_indexed_like_migrated_ones(
    open_event: sa.Engine, engine: sa.Engine
) -> None:
    adopt(open_event)

    def indexes(target: sa.Engine) -> dict[str, set[tuple[str, ...]]]:
        with target.connect() as connection:
            inspector = sa.inspect(connection)
            layout = current_layout(connection)
            return {
                f"{table}_version": {
                    tuple(i["column_names"])
                    for i in inspector.get_indexes(
                        layout.version_table(table), schema=layout.schema
                    )
                }
                for table in KNOWN_ROWS
            }

    assert indexes(open_event) == indexes(engine)
    assert indexes(engine)["sessions_version"] == {
        ("transaction_id",),
        ("id", "end_transaction_id"),
    }


def test_downgrading_below_the_namespace_refuses_while_the_application_holds_its_names(
    open_event: sa.Engine,
) -> None:
    adopt(open_event)
    before = snapshot(open_event)
    with pytest.raises(UsageError, match="events_version, transaction hold the names"):
        migrate.downgrade(open_event, "0009")
    assert snapshot(open_event) == before
    assert migrate.current_revision(open_event) == migrate.head_revision()


def test_an_adopted_database_upgrades_keeping_its_live_columns_captured(
    open_event: sa.Engine,
) -> None:
    _drop_open_event_history(open_event)
    adopt(open_event)
    migrate.downgrade(open_event, "0003")  # as adopted by a build of revision 0003
    migrate.upgrade(open_event)
    with open_event.connect() as connection:
        assert capture.verify(connection) == []
        sessions = next(s for s in registry.load(connection) if s.table == "sessions")
    assert "website" in sessions.column_names
    run_dbapi(open_event, [("UPDATE sessions SET website = ? WHERE id = ?", ("https://up", 4))])
    with open_event.connect() as connection:
        current = connection.execute(
            sa.text(
                f"SELECT website FROM {versions(connection, 'sessions')}"
                " WHERE id = 4 AND end_transaction_id IS NULL"
            )
        ).all()
    assert [tuple(r) for r in current] == [("https://up",)]
    assert_chain_intact(open_event, "sessions", "id")


def test_adopt_killed_mid_baseline_completes_on_the_next_run(
    open_event: sa.Engine, tmp_path: Path
) -> None:
    extra = 3000
    with db.write_transaction(open_event) as connection:
        connection.execute(
            sa.text("INSERT INTO sessions (id, title, state) VALUES (:id, :title, 'pending')"),
            [{"id": i, "title": f"Extra {i}"} for i in range(1000, 1000 + extra)],
        )
    url = open_event.url.render_as_string(hide_password=False)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "auditd", "--database-url", url, "adopt", "--batch-size", "1"],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill it without warning once a few sessions batches have committed.
    deadline = time.monotonic() + 120
    while _baseline_versions(open_event, "sessions") < 20:
        assert process.poll() is None and time.monotonic() < deadline, "adopt ended too soon"
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=30)
    partial = version_counts(open_event)["sessions"][0]
    assert 0 < partial < SESSIONS + extra

    result = run_cli("--database-url", url, "adopt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "adoption complete" in result.stdout
    counts = version_counts(open_event)
    assert counts["sessions"] == (SESSIONS + extra, 1)
    assert counts == {**{t: (n, 1) for t, n in KNOWN_ROWS.items()}, "sessions": counts["sessions"]}
    with open_event.connect() as connection:
        assert capture.verify(connection) == []
        assert derive_last_modified(connection) == _typed_stamps(connection)


@pytest.mark.parametrize("batch_size", [0, 10**22])
def test_a_batch_size_out_of_range_is_refused_before_anything_is_written(
    open_event: sa.Engine, batch_size: int
) -> None:
    before = snapshot(open_event)
    with pytest.raises(UsageError, match="batch size must be between 1 and 100000"):
        adopt(open_event, batch_size=batch_size)
    assert snapshot(open_event) == before


def test_a_composite_key_is_walked_in_full_batches_with_done_and_total(
    open_event: sa.Engine,
) -> None:
    with db.write_transaction(open_event) as connection:
        connection.execute(
            sa.text("INSERT INTO speakers_sessions (speaker_id, session_id) VALUES (:a, :b)"),
            [{"a": a, "b": b} for a in (1, 2, 3) for b in range(6, SESSIONS + 1)],
        )
        links = int(connection.scalar(sa.text("SELECT count(*) FROM speakers_sessions")) or 0)
    reported: list[BatchDone] = []
    adopt(open_event, batch_size=5, progress=reported.append)
    walks = [b for b in reported if b.phase == "baseline" and b.table == "speakers_sessions"]
    assert [b.walked for b in walks] == [5] * (links // 5) + ([links % 5] if links % 5 else [])
    assert {b.total for b in walks} == {links}
    assert version_counts(open_event)["speakers_sessions"] == (links, 1)


@pytest.mark.sqlite_only
def test_importing_a_legacy_history_on_sqlite_is_refused_before_adopting(
    open_event: sa.Engine, tmp_path: Path
) -> None:
    before = snapshot(open_event)
    refused = run_cli(
        "--database-url",
        str(open_event.url),
        "adopt",
        "--import-legacy",
        "--legacy-timezone",
        "UTC",
        cwd=tmp_path,
    )
    assert_one_line_error(refused, 2, "needs PostgreSQL")
    assert snapshot(open_event) == before
