"""History, who-changed and show through the Python API, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from audit_names import versions
from test_history_support import (
    RAW_SUBTITLE,
    RAW_TITLE,
    START,
    Scenario,
    counted_statements,
    scenario_fixture,
)

from auditd import api, db
from auditd.capture import append_only
from auditd.capture.attribution import audit_context, session_factory
from auditd.config.sections import DatabaseSettings
from auditd.errors import NotFoundError, UsageError
from auditd.models import Session
from auditd.models.namespace import version_table_name

ANY = object()


scenario = scenario_fixture("history")


def summary(change: api.Change) -> tuple[Any, ...]:
    """(tx, actor, origin, operation, reason, {field: (old, new) or speakers ids})."""
    fields: dict[str, Any] = {}
    for f in change.fields:
        if f.field == api.SPEAKERS_FIELD:
            fields[f.field] = ([r.id for r in f.added], [r.id for r in f.removed])
        else:
            fields[f.field] = (f.old, f.new)
    return (
        change.transaction_id,
        change.actor,
        change.origin,
        change.operation,
        change.reason,
        fields,
    )


def matches(actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """Compare summaries; ANY as a field value only requires the field to be present."""
    assert len(actual) == len(expected), actual
    for got, want in zip(actual, expected, strict=True):
        assert got[:5] == want[:5]
        assert got[5].keys() == want[5].keys(), got
        for name, value in want[5].items():
            if value is not ANY:
                assert got[5][name] == value, (name, got)


def test_history_lists_each_version_with_old_and_new_values_and_speakers(
    scenario: Scenario,
) -> None:
    tx, ids = scenario.tx, scenario.ids
    history = api.history(scenario.engine, "session", ids["talk"], newest_first=False)
    matches(
        [summary(c) for c in history],
        [
            (
                tx["create"],
                "alice",
                "api",
                "insert",
                "create the programme",
                {
                    "title": (None, "Audit trails"),
                    "starts_at": (None, START),
                    "ends_at": (None, START + timedelta(minutes=45)),
                    "track_id": (None, ids["track"]),
                    "event_id": (None, ids["event"]),
                    "state": (None, "pending"),
                    "created_at": ANY,
                    "is_mail_sent": (None, False),
                    "is_locked": (None, False),
                    "speakers": ([ids["ada"]], []),
                },
            ),
            (
                tx["cospeaker"],
                "carol",
                "cli",
                "update",
                "co-speaker added",
                {"speakers": ([ids["grace"]], [])},
            ),
            (
                tx["raw"],
                scenario.sql_actor(),
                "sql",
                "update",
                None,
                {"title": ("Audit trails", RAW_TITLE), "subtitle": (None, RAW_SUBTITLE)},
            ),
            (
                tx["swap"],
                "dave",
                "api",
                "update",
                "Ada cancelled",
                {"state": ("pending", "confirmed"), "speakers": ([ids["linus"]], [ids["ada"]])},
            ),
        ],
    )
    assert [c.issued_at for c in history] == [
        scenario.at[s] for s in ("create", "cospeaker", "raw", "swap")
    ]
    assert {c.event_id for c in history} == {ids["event"]}
    speakers = history[-1].field("speakers")
    assert speakers is not None
    assert [r.name for r in speakers.added] == ["Linus Torvalds"]


def test_history_is_newest_first_by_default(scenario: Scenario) -> None:
    oldest = api.history(scenario.engine, "session", scenario.ids["talk"], newest_first=False)
    assert api.history(scenario.engine, "session", scenario.ids["talk"]) == oldest[::-1]


def test_history_shows_a_deletion_and_the_revert_that_recreated_the_row(
    scenario: Scenario,
) -> None:
    tx, ids = scenario.tx, scenario.ids
    history = api.history(scenario.engine, "session", ids["workshop"], newest_first=False)
    before = api.row_at(scenario.engine, "session", ids["workshop"], at=scenario.at["delete"])
    last = {name: value for name, value in before.values.items() if value is not None}
    assert last["starts_at"] == START + timedelta(hours=3) and "subtitle" not in last
    matches(
        [summary(c) for c in history],
        [
            (tx["create"], "alice", "api", "insert", "create the programme", {
                "title": ANY, "starts_at": (None, START + timedelta(hours=1)), "track_id": ANY,
                "event_id": ANY, "state": ANY, "created_at": ANY, "is_mail_sent": ANY,
                "is_locked": ANY, "speakers": ([ids["grace"]], []),
            }),
            (tx["move"], "bob", "api", "update", "later slot", {
                "starts_at": (START + timedelta(hours=1), START + timedelta(hours=3)),
                "state": ("pending", "accepted"),
            }),
            # A delete clears the last values; the re-insert sets them again.
            (tx["delete"], "alice", "api", "delete", "duplicate", {
                **{name: (value, None) for name, value in last.items()},
                "speakers": ([], [ids["grace"]]),
            }),
            (tx["revert"], "erin", "revert", "insert", "deleted by mistake", {
                **{name: (None, value) for name, value in last.items()},
                "speakers": ([ids["grace"]], []),
            }),
        ],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("model", "key", "expected"),
    [
        ("event", "event", [("create", {"name", "starts_at", "timezone", "state"})]),
        ("track", "track", [("create", {"name", "color", "event_id"}), ("tidy", {"color"})]),
        ("speaker", "linus", [("create", {"name", "event_id"}), ("tidy", {"email"})]),
    ],
)
def test_history_covers_events_tracks_and_speakers(
    scenario: Scenario, model: str, key: str, expected: list[tuple[str, set[str]]]
) -> None:
    history = api.history(scenario.engine, model, scenario.ids[key], newest_first=False)
    assert [(c.transaction_id, {f.field for f in c.fields}) for c in history] == [
        (scenario.tx[step], fields) for step, fields in expected
    ]
    assert all(c.model == model and c.row_id == scenario.ids[key] for c in history)


def test_who_changed_lists_each_change_of_one_field(scenario: Scenario) -> None:
    tx, ids = scenario.tx, scenario.ids
    changes = api.who_changed(scenario.engine, "session", ids["workshop"], "starts_at")
    three = START + timedelta(hours=3)
    assert [(c.transaction_id, c.actor, c.fields) for c in changes] == [
        (tx["revert"], "erin", (api.FieldChange(field="starts_at", old=None, new=three),)),
        (tx["delete"], "alice", (api.FieldChange(field="starts_at", old=three, new=None),)),
        (tx["move"], "bob", (api.FieldChange(field="starts_at", old=START + timedelta(hours=1),
                                             new=START + timedelta(hours=3)),)),
        (tx["create"], "alice", (api.FieldChange(field="starts_at", old=None,
                                                 new=START + timedelta(hours=1)),)),
    ]  # fmt: skip
    speakers = api.who_changed(
        scenario.engine, "session", ids["talk"], "speakers", newest_first=False
    )
    assert [summary(c)[5]["speakers"] for c in speakers] == [
        ([ids["ada"]], []),
        ([ids["grace"]], []),
        ([ids["linus"]], [ids["ada"]]),
    ]


def test_row_at_gives_the_values_and_speakers_in_effect_then(scenario: Scenario) -> None:
    ids = scenario.ids
    state = api.row_at(scenario.engine, "session", ids["talk"], at=scenario.at["cospeaker"])
    assert not state.deleted
    assert state.values["title"] == "Audit trails"
    assert state.values["state"] == "pending"
    assert [s.id for s in state.speakers or ()] == [ids["ada"], ids["grace"]]
    # The latest change by then only added a speaker; it is the one named.
    assert (state.transaction_id, state.actor) == (scenario.tx["cospeaker"], "carol")

    now = api.row_at(scenario.engine, "session", ids["talk"])
    assert now.values["title"] == RAW_TITLE
    assert now.values["state"] == "confirmed"
    assert [s.id for s in now.speakers or ()] == [ids["grace"], ids["linus"]]
    assert (now.transaction_id, now.actor) == (scenario.tx["swap"], "dave")


def test_row_at_after_a_deletion_reports_deleted_with_the_last_values(scenario: Scenario) -> None:
    ids = scenario.ids
    state = api.row_at(scenario.engine, "session", ids["workshop"], at=scenario.at["delete"])
    assert state.deleted
    assert state.values["starts_at"] == START + timedelta(hours=3)
    assert state.values["state"] == "accepted"
    assert [s.id for s in state.speakers or ()] == [ids["grace"]]
    assert (state.transaction_id, state.actor) == (scenario.tx["delete"], "alice")

    restored = api.row_at(scenario.engine, "session", ids["workshop"])
    assert not restored.deleted
    assert restored.values == state.values
    assert [s.id for s in restored.speakers or ()] == [ids["grace"]]


def test_row_at_before_the_row_existed_is_not_found(scenario: Scenario) -> None:
    before = scenario.at["create"] - timedelta(seconds=1)
    with pytest.raises(NotFoundError, match="did not exist yet"):
        api.row_at(scenario.engine, "session", scenario.ids["talk"], at=before)


def test_unknown_rows_models_fields_and_ids_are_refused(scenario: Scenario) -> None:
    engine = scenario.engine
    with pytest.raises(NotFoundError, match="session 999999 does not exist"):
        api.history(engine, "session", 999999)
    with pytest.raises(UsageError, match="valid models: event, session, speaker, track"):
        api.history(engine, "talk", 1)
    with pytest.raises(UsageError, match="valid fields: name, "):
        api.who_changed(engine, "track", scenario.ids["track"], "title")
    with pytest.raises(UsageError, match="positive integer"):
        api.history(engine, "session", 0)
    with pytest.raises(UsageError, match="timezone-aware"):
        api.row_at(engine, "session", scenario.ids["talk"], at=START.replace(tzinfo=None))


def test_history_runs_the_same_few_statements_however_long_the_history(
    scenario: Scenario,
) -> None:
    engine = scenario.engine
    with counted_statements(engine) as long_history:
        assert len(api.history(engine, "session", scenario.ids["talk"])) == 4
    with counted_statements(engine) as short_history:
        assert len(api.history(engine, "event", scenario.ids["event"])) == 1
    with counted_statements(engine) as field_history:
        api.who_changed(engine, "session", scenario.ids["talk"], "speakers")
    selects = [s for s in long_history if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2  # the session's versions, and its speakers
    assert len([s for s in short_history if s.lstrip().upper().startswith("SELECT")]) == 1
    assert len(field_history) == len(long_history)


def test_a_history_call_hands_its_connection_back_writable(scenario: Scenario) -> None:
    # History reads in a read-only snapshot; the pooled connection must go
    # back as it came, or the engine's next writer would be refused.
    engine = db.create_engine(DatabaseSettings(url=scenario.url), pool_size=1, max_overflow=0)
    talk = scenario.ids["talk"]
    try:
        assert api.history(engine, "session", talk)
        with engine.connect() as connection:
            if scenario.backend == "postgresql":
                shown = connection.exec_driver_sql(
                    "SELECT current_setting('transaction_isolation'),"
                    " current_setting('transaction_read_only')"
                ).one()
                assert tuple(shown) == ("read committed", "off")
            updated = connection.execute(
                sa.text("UPDATE sessions SET title = 'Renamed' WHERE id = :id"), {"id": talk}
            )
            assert updated.rowcount == 1
            connection.rollback()
    finally:
        engine.dispose()


def test_a_row_without_recorded_history_has_an_empty_history(scenario: Scenario) -> None:
    track = scenario.ids["track"]
    with db.writer(scenario.engine).connect() as connection, connection.begin() as transaction:
        with append_only.retention(connection, (version_table_name("tracks"),)):
            connection.execute(
                sa.text(f"DELETE FROM {versions(connection, 'tracks')} WHERE id = :id"),
                {"id": track},
            )
        assert api.history(connection, "track", track) == ()
        transaction.rollback()
    assert api.history(scenario.engine, "track", track)


@pytest.mark.postgresql_only
def test_history_follows_the_version_linkage_when_transaction_ids_go_down(
    engine: sa.Engine,
) -> None:
    sessions = session_factory(engine)
    with audit_context(actor="alice", origin="test"), sessions.begin() as session:
        talk, other = Session(title="talk"), Session(title="other")
        session.add_all([talk, other])
    with engine.connect() as early, engine.connect() as late:
        # `early` takes its xid first, but writes the talk only after `late`
        # has written and committed it: along the talk, ids go down.
        early.execute(
            sa.text("UPDATE sessions SET title = 'other 2' WHERE id = :id"), {"id": other.id}
        )
        early_xid = early.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
        late.execute(
            sa.text("UPDATE sessions SET title = 'second' WHERE id = :id"), {"id": talk.id}
        )
        late_xid = late.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
        late.commit()
        early.execute(
            sa.text("UPDATE sessions SET title = 'third' WHERE id = :id"), {"id": talk.id}
        )
        early.commit()
    assert early_xid < late_xid
    history = api.history(engine, "session", talk.id, newest_first=False)
    titles = [(c.transaction_id, c.field("title")) for c in history]
    assert [(tx, f.old, f.new) for tx, f in titles if f] == [
        (history[0].transaction_id, None, "talk"),
        (late_xid, "talk", "second"),
        (early_xid, "second", "third"),
    ]
    assert api.row_at(engine, "session", talk.id).values["title"] == "third"


@pytest.mark.postgresql_only
def test_show_reads_only_the_rows_own_speaker_links(engine: sa.Engine) -> None:
    # The integrity check before show (and revert) once searched the live
    # speakers_sessions by session_id, which its key (speaker_id,
    # session_id) cannot serve: a scan of every link on each call.
    sessions = session_factory(engine)
    with audit_context(actor="alice", origin="test"), sessions.begin() as session:
        talk = Session(title="talk")
        session.add(talk)
    others = 3000
    with db.writer(engine).begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked)"
                " SELECT 1000000 + n, 'other', 'pending', false, false FROM"
                " generate_series(1, :others) n;"
                " INSERT INTO speaker (id, name) SELECT n, 'speaker' FROM"
                " generate_series(1, :others) n;"
                " INSERT INTO speakers_sessions (speaker_id, session_id)"
                " SELECT n, 1000000 + n FROM generate_series(1, :others) n"
                " UNION ALL SELECT 1, :talk"
            ),
            {"others": others, "talk": talk.id},
        )
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE speakers_sessions")
        connection.commit()
        state = api.row_at(connection, "session", talk.id)
        read = connection.execute(
            sa.text(
                "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
                " FROM pg_stat_xact_user_tables WHERE relname = 'speakers_sessions'"
            )
        ).scalar_one()
    assert [speaker.id for speaker in state.speakers or ()] == [1]
    assert read == 1  # the talk's one link: not the other 3,000


def _bad_calls(engine: sa.Engine) -> list[tuple[Callable[[], object], str]]:
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    return [
        (lambda: api.changes(engine, actor="ali\x00ce"), "actor must not contain a NUL"),
        (lambda: api.changes(engine, field="ti\x00tle"), "field must not contain a NUL"),
        (lambda: api.changes(engine, actor=5), "actor must be text"),  # type: ignore[arg-type]
        (lambda: api.changes(engine, after_transaction=-1), "after_transaction must be 0 or"),
        (lambda: api.changes(engine, limit=True), "limit must be between 1 and"),
        (lambda: api.changes(engine, since="2026-01-01"), "since must be a datetime"),  # type: ignore[arg-type]
        (lambda: api.history(engine, "session", 1, newest_first="no"), "newest_first must be"),  # type: ignore[arg-type]
        (lambda: api.history(engine, ["session"], 1), "unknown model"),  # type: ignore[arg-type]
        (lambda: api.history("sqlite:///x.db", "session", 1), "an Engine or a Connection"),  # type: ignore[arg-type]
        (lambda: api.who_changed(engine, "session", 1, None), "field must be text"),  # type: ignore[arg-type]
        (lambda: api.row_at(engine, "session", 1, at="now"), "at must be a datetime"),  # type: ignore[arg-type]
        (lambda: api.report(engine, since=since, until=until, tz=0), "tz must be"),  # type: ignore[arg-type]
        (lambda: api.known_actors(engine, limit=0), "limit must be between"),
        (lambda: api.revert(engine, "session", 1, to_transaction=1, dry_run=1), "dry_run must be"),  # type: ignore[arg-type]
        (lambda: api.revert(engine, "session", 1, to_transaction=1, reason="a\x00"), "NUL"),
    ]


def test_every_bad_api_argument_is_a_usage_error(engine: sa.Engine) -> None:
    for call, message in _bad_calls(engine):
        with pytest.raises(UsageError, match=message):
            call()
