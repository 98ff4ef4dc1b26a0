"""The change feed, reports and reverts through the Python API, on both backends."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from audit_names import transactions
from test_history_support import (
    RAW_TITLE,
    Scenario,
    build_feed_scenario,
    counted_statements,
    current_transaction,
    feed_keys,
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
        return int(
            connection.execute(
                sa.text(f"SELECT count(*) FROM {transactions(connection)}")
            ).scalar_one()
        )


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
    for index, page_transactions in enumerate(per_page):
        assert all(page_transactions.isdisjoint(other) for other in per_page[index + 1 :])
    # limit counts transactions, each served with all its changes (create has 7).
    assert [len(t) for t in per_page] == [2, 2, 2, 2, 1]
    assert [len(p.changes) for p in pages] == [8, 2, 3, 2, 2]


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
    with pytest.raises(UsageError, match="after_transaction must be 0 or a positive transaction"):
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
        scenario.sql_actor(): 1,
    }  # fmt: skip
    by_field = {
        r.key: r.changes for r in api.report(engine, since=since, until=until, by="field").rows
    }
    assert by_field["session.speakers"] == 6
    # The workshop's delete and re-insert count each field that was set.
    assert by_field["session.state"] == 6
    assert by_field["session.title"] == 5
    assert by_field["session.created_at"] == 4
    assert by_field["track.color"] == 2
    assert by_field["speaker.email"] == 2
    assert "session.comments" not in by_field
    # The report counts a field exactly where the feed lists it.
    listed = Counter(f"{c.model}.{f.field}" for c in api.changes(engine).changes for f in c.fields)
    assert by_field == dict(listed)


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
    """A scenario of its own, for tests that write, once the feed serves all of it."""
    return build_feed_scenario(engine, database_url)


@pytest.mark.postgresql_only
def test_calls_inside_one_reading_share_a_snapshot(fresh: Scenario) -> None:
    with api.reading(fresh.engine) as snapshot:
        before = api.changes(snapshot, limit=1000)
        with db.write_transaction(fresh.engine) as connection:
            connection.execute(
                sa.text("UPDATE sessions SET title = 'Meanwhile' WHERE id = :id"),
                {"id": fresh.ids["talk"]},
            )
            meanwhile = current_transaction(connection)
        during = api.changes(snapshot, limit=1000)
        counted = api.report(
            snapshot,
            since=fresh.at["create"] - timedelta(days=1),
            until=fresh.at["other"] + timedelta(days=1),
            by="model",
        )
    wait_for_horizon(fresh.engine, meanwhile)
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


def test_a_feed_page_runs_the_same_statements_whatever_its_size(scenario: Scenario) -> None:
    with counted_statements(scenario.engine) as small:
        api.changes(scenario.engine, limit=2, actor="bob")
    with counted_statements(scenario.engine) as large:
        api.changes(scenario.engine, limit=1000, actor="bob")
    # BEGIN and the snapshot's SET TRANSACTION open the reading; the rest are queries.
    opening = ("BEGIN", "SET TRANSACTION")
    queries = [[s for s in run if not s.startswith(opening)] for run in (small, large)]
    assert len(queries[0]) == len(queries[1]) <= 8
