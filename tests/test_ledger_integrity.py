"""``verify --integrity`` against each way of rewriting history, on both backends.

Each test seals a history built by real edits (ORM, raw SQL, speakers, a
deletion and a revert), tampers with it as someone with write access to
the audit tables would, and checks that verification fails at the right
block, transaction, table and key.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_ledger_support import (
    SESSION_VERSION,
    Sealed,
    rebuild_ledger,
    sealed,
    talk_versions,
    tamper,
    write_digests,
)

from auditd.ledger import IntegrityReport, latest_digest, read_digest_file, verify_integrity
from auditd.ledger.process_reads import WORTH_A_POOL
from auditd.models.audit import TRANSACTION

__all__ = ["sealed"]


def _version(sealed: Sealed, index: int) -> sa.ColumnElement[bool]:
    """The talk's version number ``index`` of its chain (-1: the current one)."""
    row = talk_versions(sealed)[index]
    return sa.and_(
        SESSION_VERSION.c.id == sealed.talk, SESSION_VERSION.c.transaction_id == row.transaction_id
    )


def _tx(sealed: Sealed, index: int) -> int:
    return int(talk_versions(sealed)[index].transaction_id)


def _first(report: IntegrityReport) -> str:
    assert not report.intact, "tampering went unnoticed"
    return str(report.problems[0])


def _broken_at(report: IntegrityReport, *, transaction: int, table: str, what: str) -> None:
    matching = [
        p
        for p in report.problems
        if p.transaction_id == transaction and p.table == table and what in p.problem
    ]
    assert matching, [str(p) for p in report.problems]
    assert report.problems[0].block is not None


def test_untouched_history_verifies_clean(sealed: Sealed) -> None:
    report = verify_integrity(sealed.engine)
    assert report.intact, [str(p) for p in report.problems]
    assert report.blocks == sealed.blocks
    assert report.unsealed_transactions == 0


def test_editing_an_old_versions_values_is_detected(sealed: Sealed) -> None:
    tx = _tx(sealed, 0)
    tamper(
        sealed.engine, sa.update(SESSION_VERSION).where(_version(sealed, 0)).values(title="FORGED")
    )
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=tx, table="sessions", what="version row changed")
    assert f"sessions [{sealed.talk}]" in _first(report)


def test_verifying_with_several_readers_finds_what_one_reader_finds(sealed: Sealed) -> None:
    """Several connections sharing a snapshot on PostgreSQL, worker processes on SQLite."""
    assert sealed.blocks >= WORTH_A_POOL  # enough blocks for SQLite's workers
    tx = _tx(sealed, 1)
    tamper(
        sealed.engine, sa.update(SESSION_VERSION).where(_version(sealed, 1)).values(title="FORGED")
    )

    alone = verify_integrity(sealed.engine, readers=1)
    together = verify_integrity(sealed.engine, readers=3)  # every block read at once

    _broken_at(alone, transaction=tx, table="sessions", what="version row changed")
    assert [str(p) for p in together.problems] == [str(p) for p in alone.problems]
    assert (together.blocks, together.versions) == (alone.blocks, alone.versions)


@pytest.mark.sqlite_only
def test_a_killed_block_reader_leaves_its_blocks_to_the_verification(sealed: Sealed) -> None:
    assert sealed.blocks >= WORTH_A_POOL  # enough blocks for worker processes
    killed: list[int] = []

    def kill_the_readers(_versions_so_far: int) -> None:
        if not killed:
            killed.extend(process.pid for process in multiprocessing.active_children())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)  # as the kernel kills for memory

    report = verify_integrity(sealed.engine, readers=2, progress=kill_the_readers)

    assert killed, "no block reader was running"
    assert report.intact, [str(p) for p in report.problems]
    alone = verify_integrity(sealed.engine, readers=1)
    assert (report.blocks, report.versions) == (alone.blocks, alone.versions)
    assert multiprocessing.active_children() == []


def test_editing_the_current_versions_values_is_detected(sealed: Sealed) -> None:
    tx = _tx(sealed, -1)
    tamper(sealed.engine, sa.update(SESSION_VERSION).where(_version(sealed, -1)).values(title="X"))
    _broken_at(verify_integrity(sealed.engine), transaction=tx, table="sessions", what="changed")


def test_deleting_an_old_version_is_detected(sealed: Sealed) -> None:
    tx = _tx(sealed, 1)
    tamper(sealed.engine, sa.delete(SESSION_VERSION).where(_version(sealed, 1)))
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=tx, table="sessions", what="version row deleted")


def test_nulling_end_transaction_id_two_current_versions_is_detected(sealed: Sealed) -> None:
    tx = _tx(sealed, 0)
    tamper(
        sealed.engine,
        sa.update(SESSION_VERSION).where(_version(sealed, 0)).values(end_transaction_id=None),
    )
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=tx, table="sessions", what="link removed")
    assert any("no current version, or several" in p.problem for p in report.problems)


def test_redirecting_end_transaction_id_is_detected(sealed: Sealed) -> None:
    other = sealed.scenario.tx["other"]  # a sealed transaction that never touched the talk
    tx = _tx(sealed, 0)
    tamper(
        sealed.engine,
        sa.update(SESSION_VERSION).where(_version(sealed, 0)).values(end_transaction_id=other),
    )
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=tx, table="sessions", what="link removed")
    assert any("wrote no version of this row" in p.problem for p in report.problems)


def test_closing_the_current_version_is_detected(sealed: Sealed) -> None:
    closer = sealed.scenario.tx["other"]
    tx = _tx(sealed, -1)
    tamper(
        sealed.engine,
        sa.update(SESSION_VERSION).where(_version(sealed, -1)).values(end_transaction_id=closer),
    )
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=tx, table="sessions", what="no current version")


def test_changing_a_transactions_actor_is_detected(sealed: Sealed) -> None:
    tx = sealed.scenario.tx["move"]
    tamper(
        sealed.engine, sa.update(TRANSACTION).where(TRANSACTION.c.id == tx).values(actor="mallory")
    )
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=tx, table=TRANSACTION.name, what="transaction row changed")


def test_changing_operation_type_is_detected(sealed: Sealed) -> None:
    tamper(
        sealed.engine,
        sa.update(SESSION_VERSION).where(_version(sealed, 1)).values(operation_type=0),
    )
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=_tx(sealed, 1), table="sessions", what="version row changed")


def test_changing_issued_at_is_detected(sealed: Sealed) -> None:
    tx = sealed.scenario.tx["move"]
    moved = sealed.scenario.at["move"] - timedelta(days=30)
    tamper(
        sealed.engine, sa.update(TRANSACTION).where(TRANSACTION.c.id == tx).values(issued_at=moved)
    )
    _broken_at(
        verify_integrity(sealed.engine), transaction=tx, table=TRANSACTION.name, what="changed"
    )


def test_deleting_a_transaction_is_detected(sealed: Sealed) -> None:
    tx = sealed.scenario.tx["tidy"]
    tamper(sealed.engine, sa.delete(TRANSACTION).where(TRANSACTION.c.id == tx))
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=tx, table=TRANSACTION.name, what="transaction row deleted")
    assert any("transaction row is missing" in p.problem for p in report.problems)


def test_inserting_a_forged_transaction_is_detected(sealed: Sealed) -> None:
    forged = {
        "id": sealed.gap,
        "issued_at": sealed.scenario.at["move"],
        "actor": "alice",
        "origin": "api",
    }
    tamper(sealed.engine, sa.insert(TRANSACTION).values(forged))
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=sealed.gap, table=TRANSACTION.name, what="forged")


def test_inserting_a_forged_version_is_detected(sealed: Sealed) -> None:
    with sealed.engine.connect() as connection:
        current = connection.execute(sa.select(SESSION_VERSION).where(_version(sealed, -1))).one()
    other = sealed.scenario.tx["other"]
    forged = {**current._mapping, "transaction_id": other, "title": "FORGED", "operation_type": 1}
    tamper(sealed.engine, sa.insert(SESSION_VERSION).values(forged))
    report = verify_integrity(sealed.engine)
    _broken_at(report, transaction=other, table="sessions", what="inserted into a sealed range")


def test_a_rewrite_with_recomputed_hashes_is_caught_by_an_earlier_external_digest(
    sealed: Sealed, tmp_path: Path
) -> None:
    with sealed.engine.connect() as connection:
        before = latest_digest(connection)
    tamper(
        sealed.engine, sa.update(SESSION_VERSION).where(_version(sealed, 0)).values(title="FORGED")
    )
    rebuild_ledger(sealed.engine)
    # Without anything kept outside the database, the rewrite is consistent...
    assert verify_integrity(sealed.engine).intact
    # ...but the digest stored before it no longer matches.
    report = verify_integrity(sealed.engine, [before])
    assert not report.intact
    assert report.problems[0].block == before.block
    assert "external digest" in report.problems[0].problem


def test_external_digests_of_an_untouched_ledger_match(sealed: Sealed, tmp_path: Path) -> None:
    with sealed.engine.connect() as connection:
        digest = latest_digest(connection)
    report = verify_integrity(sealed.engine, [digest])
    assert report.intact and report.digests_checked == 1
    # ... also as read back from a digests file.
    written = read_digest_file(write_digests(tmp_path / "d.jsonl", [digest]))
    assert verify_integrity(sealed.engine, written).intact
