"""The change feed, reports and reverts through the Python API, on both backends."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from test_history_support import (
    RAW_TITLE,
    Scenario,
    build_scenario,
    counted_statements,
    feed_keys,
    run_cli,
    scenario_fixture,
    wait_for_horizon,
)

from auditd import api, db
from auditd.capture.attribution import audit_context, session_factory
from auditd.errors import NotFoundError, UsageError
from auditd.models import Session, Speaker

scenario = scenario_fixture("feed", feed=True)


def keys(changes: Any) -> list[tuple[int, str, int]]:
    return [(c.transaction_id, c.model, c.row_id) for c in changes]


def transaction_count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text('SELECT count(*) FROM "transaction"')).scalar_one())


# -- the feed -----------------------------------------------------------------


def test_the_feed_serves_every_change_oldest_first(scenario: Scenario) -> None:
    page = api.changes(scenario.engine)
    assert keys(page.changes) == feed_keys(scenario)
    assert not page.has_more
    assert page.last_transaction_id == scenario.tx["other"]
    assert page.next_after_transaction >= scenario.tx["other"]
    raw = next(c for c in page.changes if c.transaction_id == scenario.tx["raw"])
    assert raw.field("title") == api.FieldChange(field="title", old="Audit trails", new=RAW_TITLE)


def test_feed_pages_hold_whole_transactions_and_add_up_to_the_feed(scenario: Scenario) -> None:
    pages, after = [], None
    while True:
        page = api.changes(scenario.engine, after_transaction=after, limit=2)
        pages.append(page)
        after = page.next_after_transaction
        if not page.has_more:
            break
    served = [key for page in pages for key in keys(page.changes)]
    assert served == feed_keys(scenario)
    per_page = [{c.transaction_id for c in page.changes} for page in pages]
    for index, transactions in enumerate(per_page):
        assert all(transactions.isdisjoint(other) for other in per_page[index + 1 :])
    # The creating transaction (7 changes) is served whole despite limit=2.
    assert len(pages[0].changes) == 7
    assert [len(p.changes) for p in pages[1:]] == [2, 2, 2, 2, 2]


def test_a_cursor_returns_only_later_transactions(scenario: Scenario) -> None:
    page = api.changes(scenario.engine, after_transaction=scenario.tx["swap"])
    assert keys(page.changes) == [k for k in feed_keys(scenario) if k[0] > scenario.tx["swap"]]
    again = api.changes(scenario.engine, after_transaction=page.next_after_transaction)
    assert again.changes == ()
    # The cursor may move on past ids other databases of the server used, never back.
    assert again.next_after_transaction >= page.next_after_transaction


@pytest.mark.parametrize(
    ("filters", "steps"),
    [
        ({"model": "session"}, None),
        ({"actor": "bob"}, {"move", "tidy"}),
        ({"model": "track", "field": "color"}, None),
        ({"field": "speakers"}, None),
        ({"event_id": "other_event"}, {"other"}),
    ],
)
def test_feed_filters_select_matching_changes(
    scenario: Scenario, filters: dict[str, Any], steps: set[str] | None
) -> None:
    arguments = dict(filters)
    if "event_id" in arguments:
        arguments["event_id"] = scenario.ids[arguments["event_id"]]
    page = api.changes(scenario.engine, **arguments)
    expected = feed_keys(scenario)
    if steps is not None:
        wanted = {scenario.tx[s] for s in steps}
        expected = [k for k in expected if k[0] in wanted]
    if "model" in filters:
        expected = [k for k in expected if k[1] == filters["model"]]
    if filters.get("field") == "color":
        expected = [k for k in expected if k[2] == scenario.ids["track"]]
    if filters.get("field") == "speakers":
        tx = scenario.tx
        speaker_steps = {"create", "cospeaker", "swap", "delete", "revert"}
        expected = [
            k for k in expected if k[1] == "session" and k[0] in {tx[s] for s in speaker_steps}
        ]
    assert keys(page.changes) == expected
    if "field" in filters:
        assert {f.field for c in page.changes for f in c.fields} == {filters["field"]}


def test_feed_time_range_includes_since_and_excludes_until(scenario: Scenario) -> None:
    at = scenario.at
    page = api.changes(scenario.engine, since=at["move"], until=at["delete"])
    wanted = {scenario.tx[s] for s in ("move", "cospeaker", "raw", "swap", "tidy")}
    assert keys(page.changes) == [k for k in feed_keys(scenario) if k[0] in wanted]


def test_feed_input_mistakes_are_usage_errors(scenario: Scenario) -> None:
    engine, at = scenario.engine, scenario.at
    with pytest.raises(UsageError, match=r"unknown actor 'mallory' \(known actors: alice, bob"):
        api.changes(engine, actor="mallory")
    with pytest.raises(UsageError, match="unknown field 'title' for model event"):
        api.changes(engine, model="event", field="title")
    with pytest.raises(UsageError, match="unknown field 'nope'"):
        api.changes(engine, field="nope")
    with pytest.raises(UsageError, match=r"until \(.*\) is not after since"):
        api.changes(engine, since=at["delete"], until=at["move"])
    with pytest.raises(UsageError, match="limit must be between"):
        api.changes(engine, limit=0)
    with pytest.raises(UsageError, match="transaction id must be a positive integer"):
        api.changes(engine, after_transaction=-3)


# -- reports ------------------------------------------------------------------


def test_report_counts_changes_by_model_actor_and_field(scenario: Scenario) -> None:
    engine = scenario.engine
    since, until = scenario.at["create"], scenario.at["other"] + timedelta(seconds=1)
    by_model = api.report(engine, since=since, until=until, by="model")
    assert [(r.key, r.changes) for r in by_model.rows] == [
        ("session", 8),
        ("speaker", 4),
        ("track", 3),
        ("event", 2),
    ]
    assert by_model.total == 17
    by_actor = dict(
        (r.key, r.changes) for r in api.report(engine, since=since, until=until, by="actor").rows
    )
    assert by_actor == {
        "alice": 8, "bob": 3, "carol": 1, "dave": 1, "erin": 1, "frank": 2,
        scenario.sql_actor() or "(none)": 1,
    }  # fmt: skip
    by_field = {
        r.key: r.changes for r in api.report(engine, since=since, until=until, by="field").rows
    }
    assert by_field["session.speakers"] == 6
    assert by_field["session.state"] == 4
    assert by_field["session.title"] == 3
    assert by_field["session.created_at"] == 2
    assert by_field["track.color"] == 2
    assert by_field["speaker.email"] == 2
    assert "session.comments" not in by_field


def test_report_by_day_counts_in_the_requested_zone(scenario: Scenario) -> None:
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: a different date than UTC for half the day
    since, until = scenario.at["move"], scenario.at["delete"]
    report = api.report(scenario.engine, since=since, until=until, by="day", tz=zone)
    per_step = {"move": 1, "cospeaker": 1, "raw": 1, "swap": 1, "tidy": 2}
    expected: Counter[str] = Counter()
    for step, n in per_step.items():
        expected[scenario.at[step].astimezone(zone).date().isoformat()] += n
    assert report.zone == "Pacific/Kiritimati"
    assert [(r.key, r.changes) for r in report.rows] == sorted(expected.items())
    assert report.total == 6


# -- reverts ------------------------------------------------------------------


@pytest.fixture
def fresh(engine: sa.Engine, database_url: str) -> Scenario:
    """A scenario of its own, for tests that write."""
    return build_scenario(engine, database_url)


@pytest.mark.postgresql_only
def test_calls_inside_one_reading_share_a_snapshot(fresh: Scenario) -> None:
    with api.reading(fresh.engine) as snapshot:
        before = api.changes(snapshot, limit=1000)
        with db.write_transaction(fresh.engine) as connection:
            connection.execute(
                sa.text("UPDATE sessions SET title = 'Meanwhile' WHERE id = :id"),
                {"id": fresh.ids["talk"]},
            )
        during = api.changes(snapshot, limit=1000)
        counted = api.report(
            snapshot,
            since=fresh.at["create"] - timedelta(days=1),
            until=fresh.at["other"] + timedelta(days=1),
            by="model",
        )
    after = api.changes(fresh.engine, limit=1000)
    assert during == before
    assert counted.total == len(before.changes)
    assert len(after.changes) == len(before.changes) + 1


def test_revert_dry_run_shows_the_diff_and_writes_nothing(fresh: Scenario) -> None:
    before = transaction_count(fresh.engine)
    result = api.revert(
        fresh.engine, "session", fresh.ids["talk"], to_transaction=fresh.tx["cospeaker"],
        dry_run=True,
    )  # fmt: skip
    assert (result.dry_run, result.operation, result.transaction_id) == (True, "update", None)
    assert {f.field: (f.old, f.new) for f in result.fields if f.field != "speakers"} == {
        "title": (RAW_TITLE, "Audit trails"),
        "subtitle": ("line one\nline two", None),
        "state": ("confirmed", "pending"),
    }
    speakers = next(f for f in result.fields if f.field == "speakers")
    assert ([r.id for r in speakers.added], [r.id for r in speakers.removed]) == (
        [fresh.ids["ada"]],
        [fresh.ids["linus"]],
    )
    assert transaction_count(fresh.engine) == before


def test_revert_restores_fields_and_speakers_and_is_recorded(fresh: Scenario) -> None:
    talk = fresh.ids["talk"]
    result = api.revert(
        fresh.engine, "session", talk, to_transaction=fresh.tx["cospeaker"], actor="erin",
        reason="undo the raw edit",
    )  # fmt: skip
    assert result.operation == "update" and result.transaction_id is not None
    with session_factory(fresh.engine)() as session:
        row = session.get_one(Session, talk)
        assert (row.title, row.subtitle, row.state) == ("Audit trails", None, "pending")
        assert [s.id for s in row.speakers] == [fresh.ids["ada"], fresh.ids["grace"]]
    latest = api.history(fresh.engine, "session", talk)[0]
    assert (latest.transaction_id, latest.actor, latest.origin, latest.reason) == (
        result.transaction_id,
        "erin",
        "revert",
        "undo the raw edit",
    )
    assert {f.field for f in latest.fields} == {"title", "subtitle", "state", "speakers"}

    before = transaction_count(fresh.engine)
    again = api.revert(fresh.engine, "session", talk, to_transaction=fresh.tx["cospeaker"])
    assert (again.operation, again.fields, again.transaction_id) == (None, (), None)
    assert transaction_count(fresh.engine) == before


def test_revert_to_a_deleting_transaction_deletes_the_row_again(fresh: Scenario) -> None:
    workshop = fresh.ids["workshop"]
    result = api.revert(fresh.engine, "session", workshop, to_transaction=fresh.tx["delete"])
    assert result.operation == "delete"
    with session_factory(fresh.engine)() as session:
        assert session.get(Session, workshop) is None
    assert api.row_at(fresh.engine, "session", workshop).deleted


def test_revert_refuses_unknown_transactions_and_missing_speakers(fresh: Scenario) -> None:
    engine, talk = fresh.engine, fresh.ids["talk"]
    with pytest.raises(NotFoundError, match=f"transaction {fresh.tx['tidy']} did not change"):
        api.revert(engine, "session", talk, to_transaction=fresh.tx["tidy"])
    with pytest.raises(NotFoundError):
        api.revert(engine, "session", talk, to_transaction=10**15)
    with audit_context(actor="alice", origin="test"), session_factory(engine).begin() as s:
        s.delete(s.get_one(Speaker, fresh.ids["ada"]))
    before = transaction_count(engine)
    with pytest.raises(UsageError, match=f"speaker {fresh.ids['ada']} no longer exists"):
        api.revert(engine, "session", talk, to_transaction=fresh.tx["create"])
    assert transaction_count(engine) == before


# -- polling while writers commit -----------------------------------------------


def _write(engine: sa.Engine, session_id: int, count: int, log: list[tuple[int, float]]) -> None:
    sessions = session_factory(engine)
    for n in range(count):
        with audit_context(actor="writer", origin="test"), sessions.begin() as session:
            session.get_one(Session, session_id).title = f"edit {n}"
            session.flush()
            tx = _current_transaction(session.connection())
        log.append((tx, time.monotonic()))
        time.sleep(0.03)  # keep writing while the poller polls


def _write_late(
    engine: sa.Engine, session_id: int, count: int, log: list[tuple[int, float]]
) -> None:
    # Takes its transaction id first, then waits while the others commit
    # transactions with larger ids, then commits.
    sessions = session_factory(engine)
    for n in range(count):
        with audit_context(actor="late", origin="test"), sessions.begin() as session:
            session.get_one(Session, session_id).title = f"late {n}"
            session.flush()
            tx = _current_transaction(session.connection())
            time.sleep(0.4)
        log.append((tx, time.monotonic()))


def _current_transaction(connection: sa.Connection) -> int:
    if connection.dialect.name == "postgresql":
        query = "SELECT pg_current_xact_id()::text::bigint"
    else:
        query = "SELECT transaction_id FROM audittrail_open_transaction"
    return int(connection.execute(sa.text(query)).scalar_one())


def test_a_poller_passing_the_last_seen_id_gets_every_change_exactly_once(
    engine: sa.Engine, database_url: str
) -> None:
    with audit_context(actor="setup", origin="test"), session_factory(engine).begin() as s:
        rows = [Session(title=f"talk {n}") for n in range(4)]
        s.add_all(rows)
    ids = [row.id for row in rows]
    logs: list[list[tuple[int, float]]] = [[] for _ in range(4)]
    writers = [
        threading.Thread(target=_write, args=(engine, ids[n], 12, logs[n])) for n in range(3)
    ]
    if engine.dialect.name == "postgresql":
        writers.append(threading.Thread(target=_write_late, args=(engine, ids[3], 3, logs[3])))
    for writer in writers:
        writer.start()

    seen: list[tuple[int, str, int]] = []
    last_seen: int | None = None
    deadline = time.monotonic() + 120
    polls_while_writing = 0
    while time.monotonic() < deadline:
        writing = any(w.is_alive() for w in writers)
        cursor = [] if last_seen is None else ["--after-transaction", str(last_seen)]
        result = run_cli(database_url, "changes", "--format", "jsonl", "--limit", "5", *cursor)
        assert result.code == 0, result.err
        for line in result.out.splitlines():
            change = json.loads(line)
            seen.append((change["transaction_id"], change["model"], change["row_id"]))
            last_seen = change["transaction_id"]
        polls_while_writing += writing
        if not writing and len(seen) >= 4 + sum(len(log) for log in logs):
            break
        time.sleep(0.02)
    for writer in writers:
        writer.join()

    wait_for_horizon(engine, max(tx for log in logs for tx, _ in log))
    everything = keys(api.changes(engine, limit=1000).changes)
    assert len(everything) == 4 + 36 + (3 if engine.dialect.name == "postgresql" else 0)
    assert polls_while_writing >= 3
    assert len(seen) == len(set(seen)), "a change was served twice"
    assert sorted(seen) == sorted(everything), "a change was missed"
    if engine.dialect.name == "postgresql":
        # The late transactions really had smaller ids than transactions
        # that committed before them.
        late = logs[3]
        others = [entry for log in logs[:3] for entry in log]
        assert any(
            other_tx > late_tx and other_done < late_done
            for late_tx, late_done in late
            for other_tx, other_done in others
        )


def test_a_feed_page_runs_the_same_statements_whatever_its_size(scenario: Scenario) -> None:
    with counted_statements(scenario.engine) as small:
        api.changes(scenario.engine, limit=2, actor="bob")
    with counted_statements(scenario.engine) as large:
        api.changes(scenario.engine, limit=1000, actor="bob")
    # BEGIN and the snapshot's SET TRANSACTION open the reading; the rest are queries.
    opening = ("BEGIN", "SET TRANSACTION")
    queries = [[s for s in run if not s.startswith(opening)] for run in (small, large)]
    assert len(queries[0]) == len(queries[1]) <= 8
