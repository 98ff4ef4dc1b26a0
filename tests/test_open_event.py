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

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from audit_names import transactions, versions
from test_adopt import open_event_schema
from test_capture import assert_chain_intact, run_dbapi

from auditd import capture, db
from auditd.adoption.adopt import adopt
from auditd.config import DatabaseSettings
from auditd.stamps.derive import derive_last_modified

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
