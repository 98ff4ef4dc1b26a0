"""The ledger as operators run it: the console script's seal, digest,
verify --integrity and prune; the seal job with its digest file; history and
reconcile refusing rows whose history was tampered with."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_daemon_support import (
    WRONG_STAMP,
    add_sessions,
    change_title_then_break_stamp,
    set_stamp_only,
)
from test_history_support import wait_for_horizon
from test_ledger_support import (
    SESSION_VERSION,
    Sealed,
    audittrail,
    digest_lines,
    iter_blocks,
    last_transaction_id,
    one_line_error,
    seal_everything,
    sealed,
    talk_versions,
    tamper,
)

from auditd import api
from auditd.config import load_settings
from auditd.daemon.jobs import run_job
from auditd.errors import ConfigError, IntegrityError, NotFoundError
from auditd.ledger import latest_digest, verify_integrity
from auditd.models import Session
from auditd.models.audit import TRANSACTION
from auditd.models.ledger import LEDGER_BLOCK
from auditd.stamps.derive import derive_last_modified
from auditd.stamps.watermark import read_watermark

__all__ = ["sealed"]


def _break_talk_linkage(sealed: Sealed) -> None:
    """Two current versions: the talk's first version reopened."""
    first = talk_versions(sealed)[0]
    tamper(
        sealed.engine,
        sa.update(SESSION_VERSION)
        .where(
            SESSION_VERSION.c.id == sealed.talk,
            SESSION_VERSION.c.transaction_id == first.transaction_id,
        )
        .values(end_transaction_id=None),
    )


def test_seal_then_digest_prints_the_latest_block_as_one_json_line(
    engine: sa.Engine, database_url: str
) -> None:
    add_sessions(engine, 3)
    seal_everything(engine)  # waits for the horizon; the command then has nothing left
    add_sessions(engine, 2)
    with engine.connect() as connection:
        before = latest_digest(connection)
    wait_for_horizon(engine, last_transaction_id(engine))
    sealed_run = audittrail(database_url, "seal")
    assert sealed_run.returncode == 0, sealed_run.stderr
    assert "(2 versions) in 1 blocks" in sealed_run.stdout
    printed = audittrail(database_url, "digest")
    assert printed.returncode == 0, printed.stderr
    (digest,) = digest_lines(printed.stdout)
    assert set(digest) == {"block", "last_transaction_id", "hash", "sealed_at"}
    assert digest["block"] == before.block + 1
    assert digest["last_transaction_id"] == last_transaction_id(engine)
    assert datetime.fromisoformat(digest["sealed_at"]).utcoffset() is not None
    assert digest["sealed_at"].endswith("+00:00")


def test_digest_before_the_first_seal_is_a_one_line_error(database_url: str) -> None:
    one_line_error(audittrail(database_url, "digest"), 7, "no block", "audittrail seal")


def test_verify_integrity_passes_with_the_digests_digest_printed(
    sealed: Sealed, tmp_path: Path
) -> None:
    url = sealed.scenario.url
    digests = tmp_path / "digests.jsonl"
    digests.write_text(audittrail(url, "digest").stdout, encoding="utf-8")
    result = audittrail(url, "verify", "--integrity", "--digests", str(digests))
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "1 external digests compared" in result.stdout
    assert "intact" in result.stdout


def test_verify_integrity_exits_9_naming_the_first_broken_block(
    sealed: Sealed, tmp_path: Path
) -> None:
    first = talk_versions(sealed)[0]
    tamper(
        sealed.engine,
        sa.update(SESSION_VERSION)
        .where(
            SESSION_VERSION.c.id == sealed.talk,
            SESSION_VERSION.c.transaction_id == first.transaction_id,
        )
        .values(title="FORGED"),
    )
    result = audittrail(sealed.scenario.url, "verify", "--integrity")
    one_line_error(
        result,
        9,
        "integrity broken",
        f"transaction {first.transaction_id}",
        f"sessions [{sealed.talk}]",
    )


@pytest.mark.sqlite_only
def test_an_unreadable_history_table_is_a_one_line_database_error(sealed: Sealed) -> None:
    """SQLite's block reads go past SQLAlchemy: their errors must still be
    the database errors every command reports in one line."""
    version = SESSION_VERSION.name
    with sealed.engine.begin() as connection:  # a hand edit of history's shape
        for (trigger,) in connection.execute(  # every one names the column
            sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).all():
            connection.exec_driver_sql(f'DROP TRIGGER "{trigger}"')
        connection.exec_driver_sql(f'ALTER TABLE "{version}" DROP COLUMN subtitle')
    result = audittrail(sealed.scenario.url, "verify", "--integrity")
    one_line_error(result, 4, "database error", "no such column", "subtitle")
    with sealed.engine.begin() as connection:  # all of it to seal again
        connection.execute(sa.delete(LEDGER_BLOCK))
    result = audittrail(sealed.scenario.url, "seal")  # a job run, recorded as failed
    one_line_error(result, 1, "seal failed", "no such column", "subtitle")
    assert list(iter_blocks(sealed.engine)) == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot read digests file"),
        ("not json\n", "line 1 is not JSON"),
        ('{"block": 1}\n', "line 1 is not a digest"),
        ('{"block": 1, "last_transaction_id": 2, "hash": "zz", "sealed_at": "x"}\n', "hash"),
        ("", "holds no digest"),
    ],
)
def test_a_bad_digests_file_is_a_one_line_usage_error(
    sealed: Sealed, tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "digests.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = audittrail(sealed.scenario.url, "verify", "--integrity", "--digests", str(path))
    one_line_error(result, 2, fragment)


def test_digests_without_integrity_is_a_usage_error(database_url: str, tmp_path: Path) -> None:
    result = audittrail(database_url, "verify", "--digests", str(tmp_path / "d"))
    one_line_error(result, 2, "--digests needs --integrity")


def test_prune_without_a_retention_window_is_refused(database_url: str) -> None:
    one_line_error(audittrail(database_url, "prune"), 3, "retention.keep_days is 0")


def test_prune_dry_run_with_a_window_counts_and_removes_nothing(sealed: Sealed) -> None:
    result = audittrail(
        sealed.scenario.url, "prune", "--dry-run", env={"AUDITD_RETENTION_KEEP_DAYS": "30"}
    )
    assert result.returncode == 0, result.stderr
    assert "dry run: 0 versions" in result.stdout


def test_the_prune_job_cannot_be_enabled_without_a_window() -> None:
    with pytest.raises(ConfigError, match=r"retention\.keep_days"):
        load_settings(environ={}, overrides={"jobs.prune.enabled": "true"})


def test_the_seal_job_logs_and_appends_each_digest_to_the_digest_file(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    add_sessions(engine, 4)
    wait_for_horizon(engine, last_transaction_id(engine))
    digest_file = tmp_path / "digests.jsonl"
    settings = load_settings(
        environ={},
        overrides={"database.url": database_url, "ledger.digest_file": str(digest_file)},
    )
    record = run_job(engine, settings, "seal")
    assert record is not None and record.status == "succeeded", record
    assert record.rows_scanned == 4
    with engine.connect() as connection:
        digest = latest_digest(connection)
    assert digest_lines(digest_file.read_text()) == [json.loads(digest.to_json())]
    assert record.findings()["digest"] == digest.to_json()


def test_the_seal_job_seals_nothing_when_the_digest_file_cannot_be_written(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    add_sessions(engine, 2)
    wait_for_horizon(engine, last_transaction_id(engine))
    missing_folder = tmp_path / "missing" / "digests.jsonl"
    settings = load_settings(
        environ={},
        overrides={"database.url": database_url, "ledger.digest_file": str(missing_folder)},
    )
    record = run_job(engine, settings, "seal")
    assert record is not None and record.status == "failed"
    assert "cannot append to ledger.digest_file" in str(record.error)
    with engine.connect() as connection, pytest.raises(NotFoundError):
        latest_digest(connection)  # no block was sealed


def test_history_refuses_a_row_whose_linkage_is_broken(sealed: Sealed) -> None:
    _break_talk_linkage(sealed)
    with pytest.raises(IntegrityError, match="integrity"):
        api.history(sealed.engine, "session", sealed.talk)
    result = audittrail(sealed.scenario.url, "history", "session", str(sealed.talk))
    one_line_error(result, 9, "refusing to show the history", "verify --integrity")
    assert result.stdout == ""
    # Rows whose history is intact are still shown.
    assert api.history(sealed.engine, "session", sealed.scenario.ids["workshop"])


def test_show_and_revert_refuse_a_row_whose_linkage_is_broken(sealed: Sealed) -> None:
    first = talk_versions(sealed)[0]
    _break_talk_linkage(sealed)
    with pytest.raises(IntegrityError, match="refusing to show session"):
        api.row_at(sealed.engine, "session", sealed.talk)
    result = audittrail(sealed.scenario.url, "show", "session", str(sealed.talk))
    one_line_error(result, 9, "refusing to show session", "verify --integrity")
    before = last_transaction_id(sealed.engine)
    result = audittrail(
        sealed.scenario.url,
        "revert",
        "session",
        str(sealed.talk),
        "--to",
        str(first.transaction_id),
    )
    one_line_error(result, 9, "refusing to revert session", "verify --integrity")
    assert last_transaction_id(sealed.engine) == before  # nothing was written
    workshop = sealed.scenario.ids["workshop"]
    assert api.row_at(sealed.engine, "session", workshop).row_id == workshop


def test_history_refuses_a_version_whose_transaction_row_is_gone(sealed: Sealed) -> None:
    # Joined to its transaction, such a version would silently drop out of
    # the history instead.
    second = talk_versions(sealed)[1]
    tamper(sealed.engine, sa.delete(TRANSACTION).where(TRANSACTION.c.id == second.transaction_id))
    for call in (api.history, api.row_at):
        with pytest.raises(IntegrityError, match="transaction row is missing"):
            call(sealed.engine, "session", sealed.talk)


def test_reconcile_leaves_a_row_with_broken_linkage_alone_and_fails(sealed: Sealed) -> None:
    other = sealed.scenario.ids["workshop"]
    set_stamp_only(sealed.engine, [sealed.talk, other])
    _break_talk_linkage(sealed)
    settings = load_settings(environ={}, overrides={"database.url": sealed.scenario.url})
    record = run_job(sealed.engine, settings, "reconcile")
    assert record is not None and record.status == "failed"
    assert "integrity" in (record.error or "")
    assert record.findings()["broken_linkage"]
    table = Session.__table__
    with sealed.engine.connect() as connection:
        stamps = dict(
            connection.execute(
                sa.select(table.c.id, table.c.last_modified_at).where(
                    table.c.id.in_([sealed.talk, other])
                )
            ).all()
        )
    assert stamps[sealed.talk] == WRONG_STAMP  # not moved to follow broken history
    assert stamps[other] != WRONG_STAMP  # the others are repaired


def test_sync_leaves_a_changed_row_with_broken_linkage_alone_and_holds_its_watermark(
    sealed: Sealed,
) -> None:
    settings = load_settings(environ={}, overrides={"database.url": sealed.scenario.url})
    assert run_job(sealed.engine, settings, "sync").status == "succeeded"
    other = sealed.scenario.ids["workshop"]
    change_title_then_break_stamp(sealed.engine, [sealed.talk, other], "renamed")
    rename = talk_versions(sealed)[-1].transaction_id
    _break_talk_linkage(sealed)

    record = run_job(sealed.engine, settings, "sync")

    assert record is not None and record.status == "failed"
    assert f"sessions {sealed.talk}" in (record.error or "")
    assert _stamps(sealed, [sealed.talk, other]) == {
        sealed.talk: WRONG_STAMP,  # not moved to follow broken history
        other: _derived(sealed, other),
    }
    assert read_watermark(sealed.engine).transaction_id <= rename  # the talk is looked at again


def test_a_row_whose_stamp_agrees_with_broken_history_is_left_to_verify_integrity(
    sealed: Sealed,
) -> None:
    # Reconcile writes only drifted rows, so it checks only their linkage;
    # a broken chain whose stamp already agrees is verify --integrity's.
    _break_talk_linkage(sealed)
    before = _stamps(sealed, [sealed.talk])
    settings = load_settings(environ={}, overrides={"database.url": sealed.scenario.url})

    record = run_job(sealed.engine, settings, "reconcile")

    assert record is not None and (record.status, record.rows_repaired) == ("succeeded", 0)
    assert _stamps(sealed, [sealed.talk]) == before
    report = verify_integrity(sealed.engine)
    assert any(p.key == f"[{sealed.talk}]" and p.table == "sessions" for p in report.problems), [
        str(p) for p in report.problems
    ]


def _stamps(sealed: Sealed, ids: list[int]) -> dict[int, datetime]:
    table = Session.__table__
    with sealed.engine.connect() as connection:
        return dict(
            connection.execute(
                sa.select(table.c.id, table.c.last_modified_at).where(table.c.id.in_(ids))
            ).all()
        )


def _derived(sealed: Sealed, session_id: int) -> datetime | None:
    with sealed.engine.connect() as connection:
        return derive_last_modified(connection, [session_id])[session_id]
