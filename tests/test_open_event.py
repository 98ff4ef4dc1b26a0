"""An adopted Open Event Server database, with the Open Event app still running.

The app keeps its own SQLAlchemy-Continuum history of events (its
``transaction`` and ``events_version``, written in the same transaction as
each events change) and stamps ``sessions.last_modified_at`` in a
``before_update`` listener, also on updates that change nothing. Its
connections have the default ``search_path``. Each of its writes must be
versioned exactly once by our capture, and its own tables must stay as it
wrote them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa
from audit_names import transactions, versions
from test_adopt import Interrupted, open_event_schema, snapshot
from test_capture import assert_chain_intact, run_dbapi
from test_cli_admin import assert_one_line_error, run_cli

from auditd import capture, db
from auditd.adoption.adopt import adopt
from auditd.adoption.legacy import LEGACY_ID_OFFSET, import_legacy
from auditd.capture.attribution import audit_context, session_factory
from auditd.config import DatabaseSettings
from auditd.stamps.derive import derive_last_modified
from auditd.stamps.watermark import Watermark, read_watermark

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def adopted(empty_database_url: str) -> Iterator[sa.Engine]:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    with db.write_transaction(engine) as connection:
        for statement in open_event_schema(engine.dialect.name):
            connection.exec_driver_sql(statement)
    assert adopt(engine).complete
    yield engine
    engine.dispose()


def _rows(engine: sa.Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(query)]


def _our_versions(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(sa.text(f"SELECT count(*) FROM {versions(connection, table)}"))
        )


def _our_transactions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.text(f"SELECT count(*) FROM {transactions(connection)}")))


def test_an_event_edit_by_the_app_is_versioned_once_and_its_own_history_kept_as_written(
    adopted: sa.Engine,
) -> None:
    events_before, ours_before = _our_versions(adopted, "events"), _our_transactions(adopted)
    # What Open Event's Continuum (strategy subquery) does for one events
    # update: its transaction row, the change, its version row, one
    # transaction, on a connection with the default search_path.
    run_dbapi(
        adopted,
        [
            (
                'INSERT INTO "transaction" (issued_at, remote_addr, user_id) VALUES (?, ?, ?)',
                (datetime(2026, 12, 2, 9, 0), "10.0.0.9", 7),
            ),
            ("UPDATE events SET name = ? WHERE id = ?", ("FOSSASIA Summit", 1)),
            (
                "INSERT INTO events_version (id, name, transaction_id, operation_type)"
                " VALUES (?, ?, currval('transaction_id_seq'), 1)",
                (1, "FOSSASIA Summit"),
            ),
        ],
    )
    assert _our_versions(adopted, "events") == events_before + 1
    assert _our_transactions(adopted) == ours_before + 1
    assert_chain_intact(adopted, "events", "id")
    assert _rows(adopted, 'SELECT id, remote_addr, user_id FROM "transaction" ORDER BY id') == [
        (1, "10.0.0.1", 7),
        (2, None, 7),
        (3, "10.0.0.9", 7),
    ]
    assert _rows(
        adopted, "SELECT id, name, transaction_id, operation_type FROM events_version ORDER BY 3"
    ) == [(1, "FOSSASIA 2016", 1, 0), (1, "FOSSASIA", 2, 1), (1, "FOSSASIA Summit", 3, 1)]
    with adopted.connect() as connection:
        assert capture.verify(connection) == []


def test_raw_session_and_speaker_writes_of_the_app_are_versioned_once_each(
    adopted: sa.Engine,
) -> None:
    sessions_before = _our_versions(adopted, "sessions")
    links_before = _our_versions(adopted, "speakers_sessions")
    run_dbapi(
        adopted,
        [
            (
                "UPDATE sessions SET title = ?, website = ? WHERE id = ?",
                ("Keynote", "https://k", 2),
            ),
            ("INSERT INTO speakers_sessions (speaker_id, session_id) VALUES (?, ?)", (2, 2)),
        ],
    )
    assert _our_versions(adopted, "sessions") == sessions_before + 1
    assert _our_versions(adopted, "speakers_sessions") == links_before + 1
    assert_chain_intact(adopted, "sessions", "id")
    with adopted.connect() as connection:
        assert capture.verify(connection) == []
        assert derive_last_modified(connection, [2]) == {
            2: connection.scalar(sa.text("SELECT last_modified_at FROM sessions WHERE id = 2"))
        }


def test_the_apps_own_stamp_gives_way_to_the_transaction_time_of_a_real_change(
    adopted: sa.Engine,
) -> None:
    app_clock = datetime(2030, 1, 1, tzinfo=UTC)  # the app's now(), ahead of the database's
    run_dbapi(
        adopted,
        [
            (
                "UPDATE sessions SET title = ?, last_modified_at = ? WHERE id = ?",
                ("Changed", app_clock, 4),
            )
        ],
    )
    with adopted.connect() as connection:
        stored = connection.scalar(sa.text("SELECT last_modified_at FROM sessions WHERE id = 4"))
        issued = connection.scalar(
            sa.text(
                f"SELECT t.issued_at FROM {transactions(connection)} t"
                f" JOIN {versions(connection, 'sessions')} v ON v.transaction_id = t.id"
                " WHERE v.id = 4 AND v.end_transaction_id IS NULL"
            )
        )
    assert stored == issued != app_clock


def test_the_apps_stamp_on_a_noop_update_writes_no_version_and_is_drift_until_reconciled(
    adopted: sa.Engine,
) -> None:
    before = _our_versions(adopted, "sessions"), _our_transactions(adopted)
    app_clock = datetime(2030, 1, 1, tzinfo=UTC)
    run_dbapi(adopted, [("UPDATE sessions SET last_modified_at = ? WHERE id = ?", (app_clock, 5))])
    assert (_our_versions(adopted, "sessions"), _our_transactions(adopted)) == before
    with adopted.connect() as connection:
        stored = connection.scalar(sa.text("SELECT last_modified_at FROM sessions WHERE id = 5"))
        derived = derive_last_modified(connection, [5])[5]
    assert stored == app_clock != derived


@pytest.fixture
def open_event(empty_database_url: str) -> Iterator[sa.Engine]:
    """An Open Event database at its head, not adopted yet."""
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    with db.write_transaction(engine) as connection:
        for statement in open_event_schema(engine.dialect.name):
            connection.exec_driver_sql(statement)
    yield engine
    engine.dispose()


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_imported_legacy_history_shows_in_history_with_converted_times_and_actors(
    open_event: sa.Engine, tmp_path: Path
) -> None:
    url = _url(open_event)
    adopted = run_cli(
        "--database-url",
        url,
        "adopt",
        "--import-legacy",
        "--legacy-timezone",
        "Asia/Singapore",
        cwd=tmp_path,
    )
    assert adopted.returncode == 0, adopted.stderr
    assert "legacy history: imported 2 transactions and 2 versions of events" in adopted.stdout
    assert "legacy column not imported (no longer in events): start_time" in adopted.stdout
    assert "legacy column not imported (no longer in events): location_name" in adopted.stdout
    assert "columns without values in the legacy versions (NULL): starts_at" in adopted.stdout

    shown = run_cli(
        "--database-url",
        url,
        "history",
        "event",
        "1",
        "--order",
        "oldest",
        "--format",
        "jsonl",
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    changes = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(c["issued_at"], c["actor"], c["origin"]) for c in changes] == [
        ("2016-02-01T01:00:00+00:00", "organizer@example.org", "legacy"),
        ("2016-03-01T09:30:00+00:00", "organizer@example.org", "legacy"),
        (changes[2]["issued_at"], None, "baseline"),
    ]
    renamed = next(f for f in changes[1]["fields"] if f["field"] == "name")
    assert (renamed["old"], renamed["new"]) == ("FOSSASIA 2016", "FOSSASIA")
    assert_chain_intact(open_event, "events", "id")
    with open_event.connect() as connection:
        origins = connection.execute(
            sa.text(f"SELECT origin, count(*) FROM {transactions(connection)} GROUP BY origin")
        ).all()
        assert capture.verify(connection) == []
    assert dict(origins) == {"legacy": 2, "baseline": 1, "import": 1}

    before = snapshot(open_event)
    again = run_cli(
        "--database-url",
        url,
        "adopt",
        "--import-legacy",
        "--legacy-timezone",
        "Asia/Singapore",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert "legacy history: already imported" in again.stdout
    assert snapshot(open_event) == before


def test_an_import_of_older_history_clears_syncs_time_bound_until_the_next_sync(
    open_event: sa.Engine, tmp_path: Path
) -> None:
    # The import writes transactions below sync's watermark, with times that
    # bound (read by an earlier sync) never saw.
    url = _url(open_event)
    for command in (["adopt"], ["reconcile"]):
        done = run_cli("--database-url", url, *command, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    synced = read_watermark(open_event)
    assert synced.issued_at is not None

    imported = run_cli(
        "--database-url", url, "adopt", "--import-legacy", "--legacy-timezone", "UTC", cwd=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    assert read_watermark(open_event) == Watermark(transaction_id=synced.transaction_id)

    again = run_cli("--database-url", url, "reconcile", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert read_watermark(open_event).issued_at is not None


def test_an_interrupted_import_resumes_to_the_same_history(open_event: sa.Engine) -> None:
    adopt(open_event)

    def crash(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        import_legacy(open_event, zone="UTC", batch_size=1, progress=crash)
    result = import_legacy(open_event, zone="UTC", batch_size=1)
    assert (result.transactions, result.versions, result.already_imported) == (1, 1, False)
    assert_chain_intact(open_event, "events", "id")
    with open_event.connect() as connection:
        imported = connection.execute(
            sa.text(
                f"SELECT transaction_id, operation_type FROM {versions(connection, 'events')}"
                " WHERE transaction_id < 0 ORDER BY transaction_id"
            )
        ).all()
    assert [tuple(r) for r in imported] == [(1 - LEGACY_ID_OFFSET, 0), (2 - LEGACY_ID_OFFSET, 1)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--import-legacy"], "--import-legacy needs --legacy-timezone"),
        (["--import-legacy", "--legacy-timezone", "Mars/Olympus"], "unknown time zone"),
        (["--legacy-timezone", "UTC"], "only used with --import-legacy"),
    ],
)
def test_import_options_are_checked_before_anything_is_written(
    open_event: sa.Engine, tmp_path: Path, arguments: list[str], message: str
) -> None:
    before = snapshot(open_event)
    refused = run_cli("--database-url", _url(open_event), "adopt", *arguments, cwd=tmp_path)
    assert_one_line_error(refused, 2, message)
    assert snapshot(open_event) == before


@pytest.mark.parametrize("command", [["history", "event", "1"], ["verify"], ["changes"]])
def test_a_command_on_a_database_that_needs_adopting_says_to_adopt_it(
    open_event: sa.Engine, tmp_path: Path, command: list[str]
) -> None:
    refused = run_cli("--database-url", _url(open_event), *command, cwd=tmp_path)
    assert_one_line_error(refused, 5, "run `audittrail adopt`")
    assert "audittrail migrate" not in refused.stderr


def test_after_adopting_and_importing_every_job_and_verify_run_clean(
    open_event: sa.Engine, tmp_path: Path
) -> None:
    url = _url(open_event)
    adopted = run_cli(
        "--database-url",
        url,
        "adopt",
        "--import-legacy",
        "--legacy-timezone",
        "UTC",
        cwd=tmp_path,
    )
    assert adopted.returncode == 0, adopted.stderr
    run_dbapi(
        open_event,
        [
            ('INSERT INTO "transaction" (issued_at, user_id) VALUES (?, ?)', (datetime.now(), 7)),
            ("UPDATE events SET name = ? WHERE id = ?", ("FOSSASIA 2027", 1)),
            (
                "INSERT INTO events_version (id, name, transaction_id, operation_type)"
                " VALUES (?, ?, currval('transaction_id_seq'), 1)",
                (1, "FOSSASIA 2027"),
            ),
        ],
    )
    run_dbapi(
        open_event,
        [
            ("UPDATE sessions SET website = ? WHERE id = ?", ("https://x", 7)),
            ("DELETE FROM speakers_sessions WHERE speaker_id = ? AND session_id = ?", (1, 5)),
        ],
    )
    for command in (["reconcile"], ["reconcile", "--full"], ["seal"], ["verify"]):
        result = run_cli("--database-url", url, *command, cwd=tmp_path)
        assert result.returncode == 0, (command, result.stdout + result.stderr)
    assert "no drift, change capture complete" in result.stdout
    # The ledger seals the imported history (negative ids) with ours.
    integrity = run_cli("--database-url", url, "verify", "--integrity", cwd=tmp_path)
    assert integrity.returncode == 0, integrity.stdout + integrity.stderr
    shown = run_cli(
        "--database-url", url, "history", "event", "1", "--format", "jsonl", cwd=tmp_path
    )
    newest = json.loads(shown.stdout.splitlines()[0])
    assert (newest["origin"], newest["operation"]) == ("sql", "update")

    # A session's history, state and revert on the adopted tables: a column
    # the models do not declare (website), a speaker link removed by raw SQL.
    def cli_json(*command: str) -> list[dict[str, Any]]:
        result = run_cli("--database-url", url, *command, "--format", "jsonl", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    website = cli_json("history", "session", "7")[0]
    assert website["origin"] == "sql"
    assert [(f["field"], f["new"]) for f in website["fields"]] == [("website", "https://x")]
    removal = cli_json("history", "session", "5")[0]
    assert [(f["field"], f["removed"]) for f in removal["fields"]] == [
        ("speakers", [{"id": 1, "name": "Ada"}])
    ]
    (state,) = cli_json("show", "session", "5")
    assert state["speakers"] == [] and state["transaction_id"] == removal["transaction_id"]
    (now,) = cli_json("show", "session", "7")
    assert now["values"]["website"] == "https://x"
    before_website = cli_json("history", "session", "7")[1]["transaction_id"]
    (planned,) = cli_json("revert", "session", "7", "--to", str(before_website), "--dry-run")
    assert [(f["field"], f["old"], f["new"]) for f in planned["fields"]] == [
        ("website", "https://x", None)
    ]


# The app's rights on its own tables; nothing on the audit schema: capture
# runs with the audit owner's rights.
APP_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
)


def test_the_apps_own_role_with_the_default_search_path_is_versioned_as_itself(
    adopted: sa.Engine,
) -> None:
    role = f"open_event_app_{uuid.uuid4().hex[:8]}"
    with db.write_transaction(adopted) as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        for grant in APP_GRANTS:
            connection.exec_driver_sql(grant.format(role=role))
    try:
        app = adopted.url.set(username=role)
        with closing(
            psycopg2.connect(host=app.host, port=app.port, user=role, dbname=app.database)
        ) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SHOW search_path")
                assert cursor.fetchone()[0] == '"$user", public'
                cursor.execute("UPDATE sessions SET title = 'By the app' WHERE id = 6")
            connection.commit()
        with adopted.connect() as connection:
            actor = connection.scalar(
                sa.text(
                    f"SELECT t.actor FROM {transactions(connection)} t"
                    f" JOIN {versions(connection, 'sessions')} v ON v.transaction_id = t.id"
                    " WHERE v.id = 6 AND v.end_transaction_id IS NULL"
                )
            )
        assert actor == role
    finally:
        with db.write_transaction(adopted) as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")


def test_an_adopted_database_trusts_our_sessions_context_and_records_the_role(
    adopted: sa.Engine,
) -> None:
    with audit_context(actor="alice", origin="api"), session_factory(adopted).begin() as session:
        # Raw SQL through the session: Open Event's sessions lack columns our model declares.
        session.execute(
            sa.text("UPDATE sessions SET title = 'Renamed through the API' WHERE id = 6")
        )
    with adopted.connect() as connection:
        recorded = connection.execute(
            sa.text(
                f"SELECT t.actor, t.origin, t.db_role FROM {transactions(connection)} t"
                f" JOIN {versions(connection, 'sessions')} v ON v.transaction_id = t.id"
                " WHERE v.id = 6 AND v.end_transaction_id IS NULL"
            )
        ).one()
    assert tuple(recorded) == ("alice", "api", "postgres")
