"""Set-up commands, and one clean error line for every configuration mistake."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from auditd import db, migrate
from auditd.config import DatabaseSettings
from auditd.models import Session, Transaction


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_")}
    return subprocess.run(
        [sys.executable, "-m", "auditd", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *fragments: str
) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("[database]\nurl = 'sqlite:////tmp/x.db'\nurll = 1\n", "urll"),
        ("[databse]\nurl = 'sqlite:////tmp/x.db'\n", "databse"),
        ("[service]\nbatch_size = -5\n", "batch_size"),
        ("[jobs.sync]\ninterval_seconds = 'often'\n", "interval_seconds"),
        ("[jobs.reconcile]\ncron = '61 * * * *'\n", "cron"),
        ("[database\nurl = 1\n", "line"),
        ("[database]\nurl = 'postgresql+psycopg://u:hunter2@db/x'\n", "psycopg2"),
        ("[database]\nurl = 'not a url'\n", "database.url"),
        ("[logging]\nlevel = 'loud'\n", "logging.level"),
    ],
)
def test_config_mistake_is_one_line_exit_3_and_writes_nothing(
    tmp_path: Path, config: str, fragment: str
) -> None:
    path = tmp_path / "audittrail.toml"
    path.write_text(config)
    result = run_cli("--config", str(path), "migrate", cwd=tmp_path)
    assert_one_line_error(result, 3, fragment)
    assert "hunter2" not in result.stderr
    assert not (tmp_path / "state").exists()


def test_unknown_environment_variable_is_rejected(tmp_path: Path) -> None:
    result = run_cli(
        "check-config", cwd=tmp_path, env={"AUDITD_DATABASE_URI": "sqlite:////tmp/x.db"}
    )
    assert_one_line_error(result, 3, "AUDITD_DATABASE_URI")


def test_bad_command_line_is_exit_2(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("frobnicate", cwd=tmp_path), 2, "frobnicate")


def test_unreachable_database_is_one_line_exit_4_without_password(tmp_path: Path) -> None:
    url = "postgresql://audit:hunter2@127.0.0.1:1/openevent"
    result = run_cli("--database-url", url, "migrate", cwd=tmp_path)
    assert_one_line_error(result, 4, "cannot connect", "127.0.0.1")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_a_database_folder_that_cannot_be_created_is_one_line_exit_4(
    tmp_path: Path, command: str
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    result = run_cli("--database-url", f"sqlite:///{blocker}/audittrail.db", command, cwd=tmp_path)
    assert_one_line_error(result, 4, "cannot create the folder", str(blocker))


def test_check_config_masks_password_and_shows_psycopg2(tmp_path: Path) -> None:
    result = run_cli(
        "check-config", cwd=tmp_path, env={"AUDITD_DATABASE_URL": "postgresql://u:hunter2@db/x"}
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert 'url = "postgresql+psycopg2://u:***@db/x"' in result.stdout


def test_demo_refuses_a_database_that_does_not_exist_yet(tmp_path: Path) -> None:
    result = run_cli("demo", cwd=tmp_path)
    assert_one_line_error(result, 4, "not found", "audittrail migrate")
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_unmigrated_database(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    sqlite3.connect(tmp_path / "state" / "audittrail.db").close()
    result = run_cli("demo", cwd=tmp_path)
    assert_one_line_error(result, 5, "audittrail migrate")


def test_migrate_then_demo_builds_history_once(tmp_path: Path) -> None:
    assert run_cli("migrate", cwd=tmp_path).returncode == 0
    first = run_cli("demo", cwd=tmp_path)
    second = run_cli("demo", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "loaded with its history of edits" in first.stdout
    assert "already loaded" in second.stdout
    engine = db.create_engine(
        DatabaseSettings(url=f"sqlite:///{tmp_path / 'state' / 'audittrail.db'}")
    )
    with engine.connect() as connection:
        actors = set(connection.execute(sa.select(Transaction.actor)).scalars())
        sessions = connection.execute(sa.select(sa.func.count()).select_from(Session)).scalar_one()
    engine.dispose()
    assert {"alice", "bob", "carol"} <= actors
    assert sessions == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--downgrade"], "cannot downgrade from revision"),
        (["--revision", "0001"], "newer than 0001"),
    ],
)
def test_a_migration_in_the_wrong_direction_is_refused(
    tmp_path: Path, args: list[str], message: str
) -> None:
    assert run_cli("migrate", cwd=tmp_path).returncode == 0
    refused = run_cli("migrate", *args, cwd=tmp_path)
    assert_one_line_error(refused, 2, message)
    again = run_cli("migrate", cwd=tmp_path)
    assert again.returncode == 0
    head = migrate.head_revision()
    assert f"schema already at {head}, nothing to do" in again.stdout
