"""Shared by the history tests: a history built by real edits, and helpers.

The scenario is written through every kind of writer the audit trail must
record: ORM edits with attribution, a raw SQL statement (with terminal
escape sequences in the data), speakers joining and leaving, a deletion and
a revert that re-creates the deleted row. Tests compare the API and CLI
output with the transaction ids and times the database assigned.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from audit_names import transactions
from conftest import (  # type: ignore[import-not-found]
    BACKENDS,
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
    require_postgres,
)
from sqlalchemy import orm

from auditd import api, db
from auditd.capture.attribution import audit_context, session_factory
from auditd.cli.main import main
from auditd.config import DatabaseSettings
from auditd.models import Event, Session, Speaker, Track, Transaction
from auditd.stamps.horizon import read_horizon

START = datetime(2027, 3, 12, 9, 0, tzinfo=UTC)
RAW_TITLE = "Audit \x1b[31mtrails\x1b[0m"
RAW_SUBTITLE = "line one\nline two"


@dataclass
class Scenario:
    """Ids of the rows and, per step, the transaction id and issued_at."""

    url: str
    engine: sa.Engine
    ids: dict[str, int] = field(default_factory=dict)
    tx: dict[str, int] = field(default_factory=dict)
    at: dict[str, datetime] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def sql_actor(self) -> str | None:
        """The actor a raw SQL writer gets: the database role, or none on SQLite."""
        return "postgres" if self.backend == "postgresql" else None


def _record(scenario: Scenario, step: str, reason: str) -> None:
    with scenario.engine.connect() as connection:
        row = connection.execute(
            sa.text(f"SELECT id FROM {transactions(connection)} WHERE reason = :r"), {"r": reason}
        ).one()
    _remember(scenario, step, row.id)


def _remember(scenario: Scenario, step: str, tx: int) -> None:
    scenario.tx[step] = tx
    with scenario.engine.connect() as connection:
        scenario.at[step] = connection.execute(
            sa.select(Transaction.issued_at).where(Transaction.id == tx)
        ).scalar_one()


@contextlib.contextmanager
def _step(
    scenario: Scenario, step: str, actor: str, reason: str, origin: str = "api"
) -> Iterator[orm.Session]:
    sessions = session_factory(scenario.engine)
    with audit_context(actor=actor, origin=origin, reason=reason), sessions.begin() as session:
        yield session
    _record(scenario, step, reason)


def build_scenario(engine: sa.Engine, url: str) -> Scenario:
    """Write the scenario's history; returns what tests compare against."""
    scenario = Scenario(url=url, engine=engine)
    ids = scenario.ids

    with _step(scenario, "create", "alice", "create the programme") as session:
        event = Event(name="Conf", starts_at=START, timezone="Europe/Berlin", state="draft")
        track = Track(name="Databases", color="#336699", event=event)
        ada = Speaker(name="Ada Lovelace", email="ada@example.org", event=event)
        grace = Speaker(name="Grace Hopper", event=event)
        linus = Speaker(name="Linus Torvalds", event=event)
        talk = Session(
            title="Audit trails",
            event=event,
            track=track,
            starts_at=START,
            ends_at=START + timedelta(minutes=45),
            speakers=[ada],
        )
        workshop = Session(
            title="Time zones",
            event=event,
            track=track,
            starts_at=START + timedelta(hours=1),
            speakers=[grace],
        )
        session.add_all([talk, workshop, linus])
        session.flush()
        ids.update(
            event=event.id,
            track=track.id,
            ada=ada.id,
            grace=grace.id,
            linus=linus.id,
            talk=talk.id,
            workshop=workshop.id,
        )

    with _step(scenario, "move", "bob", "later slot") as session:
        row = session.get_one(Session, ids["workshop"])
        row.starts_at = START + timedelta(hours=3)
        row.state = "accepted"

    with _step(scenario, "cospeaker", "carol", "co-speaker added", origin="cli") as session:
        row = session.get_one(Session, ids["talk"])
        row.speakers.append(session.get_one(Speaker, ids["grace"]))

    # A foreign writer: raw SQL, with terminal escape sequences in the data.
    with db.write_transaction(engine) as connection:
        connection.execute(
            sa.text("UPDATE sessions SET title = :t, subtitle = :s WHERE id = :id"),
            {"t": RAW_TITLE, "s": RAW_SUBTITLE, "id": ids["talk"]},
        )
        if connection.dialect.name == "postgresql":
            current = "SELECT pg_current_xact_id()::text::bigint"
        else:
            current = "SELECT transaction_id FROM audittrail_open_transaction"
        raw = int(connection.execute(sa.text(current)).scalar_one())
    _remember(scenario, "raw", raw)

    with _step(scenario, "swap", "dave", "Ada cancelled") as session:
        row = session.get_one(Session, ids["talk"])
        row.state = "confirmed"
        row.speakers = [
            session.get_one(Speaker, ids["grace"]),
            session.get_one(Speaker, ids["linus"]),
        ]

    with _step(scenario, "tidy", "bob", "tidy speakers and tracks") as session:
        session.get_one(Speaker, ids["linus"]).email = "linus@example.org"
        session.get_one(Track, ids["track"]).color = "#ff0000"

    with _step(scenario, "delete", "alice", "duplicate") as session:
        session.delete(session.get_one(Session, ids["workshop"]))

    result = api.revert(
        engine,
        "session",
        ids["workshop"],
        to_transaction=scenario.tx["move"],
        actor="erin",
        reason="deleted by mistake",
    )
    assert result.transaction_id is not None
    _remember(scenario, "revert", result.transaction_id)

    with _step(scenario, "other", "frank", "second event") as session:
        other = Event(name="Other", timezone="UTC", state="draft")
        other_track = Track(name="Other track", event=other)
        session.add(other_track)
        session.flush()
        ids.update(other_event=other.id, other_track=other_track.id)
    return scenario


def build_feed_scenario(engine: sa.Engine, url: str) -> Scenario:
    """The scenario, once the change feed can serve all of it (see
    :func:`wait_for_horizon`): for tests that read the feed."""
    scenario = build_scenario(engine, url)
    wait_for_horizon(engine, scenario.tx["other"])
    return scenario


def feed_keys(scenario: Scenario) -> list[tuple[int, str, int]]:
    """(transaction id, model, row id) of every change of the scenario, in feed order."""
    tx, ids = scenario.tx, scenario.ids
    keys = [
        (tx["create"], "event", ids["event"]),
        (tx["create"], "session", ids["talk"]),
        (tx["create"], "session", ids["workshop"]),
        (tx["create"], "speaker", ids["ada"]),
        (tx["create"], "speaker", ids["grace"]),
        (tx["create"], "speaker", ids["linus"]),
        (tx["create"], "track", ids["track"]),
        (tx["move"], "session", ids["workshop"]),
        (tx["cospeaker"], "session", ids["talk"]),
        (tx["raw"], "session", ids["talk"]),
        (tx["swap"], "session", ids["talk"]),
        (tx["tidy"], "speaker", ids["linus"]),
        (tx["tidy"], "track", ids["track"]),
        (tx["delete"], "session", ids["workshop"]),
        (tx["revert"], "session", ids["workshop"]),
        (tx["other"], "event", ids["other_event"]),
        (tx["other"], "track", ids["other_track"]),
    ]
    return sorted(keys)


@contextlib.contextmanager
def scenario_database(backend: str, templates: dict[str, str], folder: Path) -> Iterator[str]:
    """A fresh migrated database (URL) for a module-scoped scenario."""
    if backend == "sqlite":
        target = folder / "history.db"
        shutil.copyfile(templates["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    require_postgres()
    name = create_postgres_database(template=templates["postgresql"])
    try:
        yield postgres_url(name)
    finally:
        drop_postgres_database(name)


@contextlib.contextmanager
def built_scenario(
    backend: str, templates: dict[str, str], folder: Path, *, feed: bool = False
) -> Iterator[Scenario]:
    """The scenario in a fresh database; with ``feed``, once the change feed
    can serve all of it."""
    with scenario_database(backend, templates, folder) as url:
        engine = db.create_engine(DatabaseSettings(url=url))
        try:
            yield (build_feed_scenario if feed else build_scenario)(engine, url)
        finally:
            engine.dispose()


def scenario_fixture(folder: str, *, feed: bool = False) -> Any:
    """A module-scoped ``scenario`` fixture, once per backend (assign it to
    the name ``scenario`` in a test module)."""

    @pytest.fixture(scope="module", params=BACKENDS)
    def scenario(
        request: pytest.FixtureRequest,
        _templates: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[Scenario]:
        with built_scenario(
            request.param, _templates, tmp_path_factory.mktemp(folder), feed=feed
        ) as built:
            yield built

    return scenario


@contextlib.contextmanager
def counted_statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Collects the SQL statements ``engine`` runs inside the block."""
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def wait_for_horizon(engine: sa.Engine, transaction_id: int, timeout: float = 120.0) -> None:
    """Wait until the feed may serve ``transaction_id``: on PostgreSQL a
    writing transaction left open in any database of the server (another
    test run, say) holds the horizon back."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            if read_horizon(connection) > transaction_id:
                return
        if time.monotonic() > deadline:
            pytest.fail(
                f"the feed horizon did not pass transaction {transaction_id} in {timeout} s:"
                " a writing transaction is open somewhere on the server"
            )
        time.sleep(0.05)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(url: str, *args: str) -> CliResult:
    """Run ``audittrail --database-url URL ARGS`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--database-url", url, *args])
    return CliResult(code, out.getvalue(), err.getvalue())


# -- writers committing while the feed is read ---------------------------------


Log = list[tuple[int, float]]  # (transaction id, when it committed)


def write_edits(engine: sa.Engine, session_id: int, count: int, log: Log, pause: float) -> None:
    """``count`` more edits of one session (``log`` holds the earlier ones),
    one transaction each, ``pause`` apart."""
    sessions = session_factory(engine)
    for n in range(len(log), len(log) + count):
        with audit_context(actor="writer", origin="test"), sessions.begin() as session:
            session.get_one(Session, session_id).title = f"edit {n}"
            session.flush()
            tx = current_transaction(session.connection())
        log.append((tx, time.monotonic()))
        time.sleep(pause)  # keep writing while the readers read


def current_transaction(connection: sa.Connection) -> int:
    if connection.dialect.name == "postgresql":
        query = "SELECT pg_current_xact_id()::text::bigint"
    else:
        query = "SELECT transaction_id FROM audittrail_open_transaction"
    return int(connection.execute(sa.text(query)).scalar_one())
