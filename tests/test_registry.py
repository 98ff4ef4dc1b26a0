"""One registry of what is versioned, read alike by every layer and process.

The registry is built from the catalog (what the database really has) and
must agree with the models for a database our migrations made; it must be
the same text in every process (the capture markers hash it); and every
layer must read it, so that an adopted Open Event database, with columns our
models do not declare or without an association table, works everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from audit_names import versions
from golden_capture import models_registry  # type: ignore[import-not-found]
from test_adopt import open_event_schema
from test_capture import run_dbapi
from test_cli_admin import run_cli
from test_history_support import wait_for_horizon

from auditd import db, registry
from auditd.adoption.adopt import adopt
from auditd.config import DatabaseSettings

FORMATS = ("table", "json", "jsonl", "csv")


def test_the_catalog_of_a_migrated_database_gives_the_models_registry(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        stored = tuple(registry.load(connection))
        from_catalog = registry.from_catalog(connection)
    by_table = {entry.table: entry for entry in models_registry(engine.dialect.name)}
    assert [entry.table for entry in stored] == sorted(by_table)
    assert {entry.table: entry for entry in from_catalog} == by_table
    assert {entry.table: entry for entry in stored} == by_table


def test_an_entry_serialises_canonically_and_round_trips(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        for entry in registry.load(connection):
            text = entry.to_json()
            assert registry.VersionedTable.from_json(text) == entry
            assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def _build(url: str, statements: list[str]) -> sa.Engine:
    engine = db.create_engine(DatabaseSettings(url=url))
    with db.write_transaction(engine) as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    return engine


@pytest.fixture
def adopted(empty_database_url: str) -> Iterator[tuple[str, sa.Engine]]:
    """An adopted Open Event-shaped database, with a second JSON column."""
    schema = open_event_schema(sa.make_url(empty_database_url).get_backend_name())
    document = "json" if empty_database_url.startswith("postgresql") else "JSON"
    schema.append(f"ALTER TABLE sessions ADD COLUMN custom_form {document}")
    engine = _build(empty_database_url, schema)
    assert adopt(engine).complete
    yield empty_database_url, engine
    engine.dispose()


@pytest.mark.parametrize("seed", ["0", "1", "2", "3", "4"])
def test_verify_of_an_adopted_table_with_two_json_columns_is_clean_under_any_hash_seed(
    adopted: tuple[str, sa.Engine], tmp_path: Path, seed: str
) -> None:
    url, _engine = adopted
    result = run_cli("--database-url", url, "verify", cwd=tmp_path, env={"PYTHONHASHSEED": seed})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outdated" not in result.stdout
    assert "no drift, change capture complete" in result.stdout


def test_adopt_without_the_speakers_association_then_every_job_runs(
    empty_database_url: str, tmp_path: Path
) -> None:
    dialect = sa.make_url(empty_database_url).get_backend_name()
    schema = [
        statement
        for statement in open_event_schema(dialect)
        if "speakers_sessions" not in statement
    ]
    engine = _build(empty_database_url, schema)
    try:
        assert adopt(engine).complete
        with engine.connect() as connection:
            tables = [entry.table for entry in registry.load(connection)]
        assert "speakers_sessions" not in tables
        run_dbapi(engine, [("UPDATE sessions SET title = ? WHERE id = ?", ("Renamed", 3))])
        url = empty_database_url
        for command in (["reconcile"], ["reconcile", "--full"], ["verify"]):
            result = run_cli("--database-url", url, *command, cwd=tmp_path)
            assert result.returncode == 0, result.stdout + result.stderr
        history = run_cli(
            "--database-url", url, "history", "session", "3", "--format", "json", cwd=tmp_path
        )
        assert history.returncode == 0, history.stderr
        changes = json.loads(history.stdout)
        assert [c["operation"] for c in changes] == ["update", "insert"]
        assert changes[0]["fields"][0]["new"] == "Renamed"
    finally:
        engine.dispose()


def _edit_extra_columns(engine: sa.Engine) -> None:
    """Writes an Open Event app would make: columns our models do not declare,
    and a speaker joining a session."""
    run_dbapi(
        engine,
        [
            (
                "UPDATE sessions SET website = ?, average_rating = ?, custom_form = ? WHERE id = ?",
                ("https://talk.example", 3.25, '{"level": "expert"}', 2),
            ),
            ("INSERT INTO speakers_sessions (speaker_id, session_id) VALUES (?, ?)", (1, 2)),
            ("UPDATE speaker SET website = ? WHERE id = ?", ("https://grace.example", 2)),
        ],
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_history_command_works_on_an_adopted_database_in_every_format(
    adopted: tuple[str, sa.Engine], tmp_path: Path, fmt: str
) -> None:
    url, engine = adopted
    _edit_extra_columns(engine)
    with engine.connect() as connection:
        edit = connection.scalar(
            sa.text(f"SELECT max(transaction_id) FROM {versions(connection, 'sessions')}")
        )
        baseline = connection.scalar(
            sa.text(f"SELECT min(transaction_id) FROM {versions(connection, 'sessions')}")
        )
    wait_for_horizon(engine, edit)  # the feed serves finished transactions only
    since, until = "2000-01-01T00:00Z", "2100-01-01T00:00Z"
    expected = [
        (["history", "session", "2"], "talk.example"),
        (["history", "speaker", "2"], "grace.example"),
        (["show", "session", "2"], "talk.example"),
        (["changes", "--model", "session"], "talk.example"),
        (["changes", "--field", "website"], "talk.example"),
        (["who-changed", "session", "2", "website"], "talk.example"),
        (["who-changed", "session", "2", "average_rating"], "3.25"),
        (["who-changed", "session", "2", "speakers"], "Ada"),
        (["revert", "session", "2", "--to", str(baseline), "--dry-run"], "talk.example"),
        (["report", "--since", since, "--until", until, "--by", "field"], "session.website"),
        (["history", "event", "1"], "FOSSASIA"),
        (["show", "event", "1"], "FOSSASIA"),
        (["who-changed", "event", "1", "name"], "FOSSASIA"),
        (["history", "track", "2"], "Web"),
        (["show", "track", "1"], "Databases"),
        (["who-changed", "speaker", "1", "website"], "ada.example"),
        (["report", "--since", since, "--until", until, "--by", "model"], "event"),
    ]
    for command, fragment in expected:
        result = run_cli("--database-url", url, *command, "--format", fmt, cwd=tmp_path)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert "Traceback" not in result.stderr
        assert fragment in result.stdout, (command, result.stdout)
    assert edit is not None and edit != baseline


def test_who_changed_accepts_an_adopted_tables_own_columns(
    adopted: tuple[str, sa.Engine], tmp_path: Path
) -> None:
    url, engine = adopted
    _edit_extra_columns(engine)
    result = run_cli(
        "--database-url",
        url,
        "who-changed",
        "session",
        "2",
        "website",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (change,) = [c for c in json.loads(result.stdout) if c["operation"] == "update"]
    assert change["fields"] == [
        {"field": "website", "old": None, "new": "https://talk.example", "added": [], "removed": []}
    ]
    rating = run_cli(
        "--database-url",
        url,
        "who-changed",
        "session",
        "2",
        "average_rating",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert rating.returncode == 0, rating.stderr
    (update,) = [c for c in json.loads(rating.stdout) if c["operation"] == "update"]
    assert float(update["fields"][0]["old"]) == 4.5
    assert float(update["fields"][0]["new"]) == 3.25


def test_revert_restores_an_adopted_tables_own_columns(
    adopted: tuple[str, sa.Engine], tmp_path: Path
) -> None:
    url, engine = adopted
    _edit_extra_columns(engine)
    with engine.connect() as connection:
        baseline = connection.scalar(
            sa.text(f"SELECT min(transaction_id) FROM {versions(connection, 'sessions')}")
        )
    result = run_cli(
        "--database-url", url, "revert", "session", "2", "--to", str(baseline), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT website, average_rating, custom_form FROM sessions WHERE id = 2")
        ).one()
        links = connection.scalars(
            sa.text("SELECT speaker_id FROM speakers_sessions WHERE session_id = 2")
        ).all()
    assert row.website is None
    assert float(row.average_rating) == 4.5
    assert row.custom_form is None
    assert links == [3]
