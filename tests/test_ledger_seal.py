"""Sealing: bounded blocks, resumable, only history the commit horizon has passed."""

from __future__ import annotations

import itertools
import multiprocessing

import pytest
import sqlalchemy as sa
from test_daemon_support import add_sessions, quick_write
from test_history_support import wait_for_horizon
from test_ledger_support import BLOCK_SIZE, Sealed, iter_blocks, last_transaction_id, sealed

from auditd import db
from auditd.capture.attribution import audit_context, session_factory
from auditd.ledger import seal, verify_integrity
from auditd.ledger.seal import BLOCKS_PER_ROUND
from auditd.models import Session

__all__ = ["sealed"]


def test_blocks_are_bounded_contiguous_and_chained(sealed: Sealed) -> None:
    blocks = list(iter_blocks(sealed.engine))
    assert [block.number for block in blocks] == list(range(1, len(blocks) + 1))
    assert all(block.transaction_count <= BLOCK_SIZE for block in blocks)
    for before, after in itertools.pairwise(blocks):
        assert after.first_transaction_id == before.last_transaction_id
        assert after.previous_hash == before.hash


def test_a_second_seal_resumes_after_the_last_block(sealed: Sealed) -> None:
    assert seal(sealed.engine, BLOCK_SIZE).blocks == ()
    add_sessions(sealed.engine, 2)
    wait_for_horizon(sealed.engine, last_transaction_id(sealed.engine))
    (block,) = seal(sealed.engine, BLOCK_SIZE).blocks
    assert block.number == sealed.blocks + 1
    assert block.last_transaction_id == last_transaction_id(sealed.engine)
    assert verify_integrity(sealed.engine).intact


@pytest.mark.postgresql_only
def test_seal_stops_at_a_transaction_still_open_and_never_waits_for_it(
    engine: sa.Engine,
) -> None:
    add_sessions(engine, 1)
    table = Session.__table__
    with db.writer(engine).connect() as open_writer:
        open_transaction = open_writer.begin()
        open_writer.execute(sa.insert(table).values(title="written, not committed"))
        open_id = int(open_writer.scalar(sa.text("SELECT pg_current_xact_id()::text::bigint")))
        with quick_write(engine) as connection:  # commits after the open one began
            connection.execute(sa.insert(table).values(title="committed later"))
        later = last_transaction_id(engine)
        assert later > open_id
        # Sealing runs while the writer keeps its transaction open, and does not wait for it.
        blocks = seal(engine, BLOCK_SIZE).blocks
        assert all(block.last_transaction_id < open_id for block in blocks)
        open_transaction.commit()
    wait_for_horizon(engine, later)
    seal(engine, BLOCK_SIZE)
    (last,) = list(iter_blocks(engine))[-1:]
    assert last.last_transaction_id == later
    assert verify_integrity(engine).intact


def test_large_transactions_get_blocks_of_their_own(engine: sa.Engine) -> None:
    """Blocks are bounded in versions too: history of a few large
    transactions is not sealed as one block (held in memory, read on one
    connection), and a transaction larger than the bound is never split."""
    wait_for_horizon(engine, last_transaction_id(engine))
    before = len(seal(engine, 100).blocks) and list(iter_blocks(engine))[-1].number
    sessions = session_factory(engine)
    for count in (2, 2, 2, 9, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1):
        with audit_context(actor="importer", origin="api"), sessions.begin() as session:
            session.add_all([Session(title=f"talk {n}") for n in range(count)])
    wait_for_horizon(engine, last_transaction_id(engine))

    blocks = seal(engine, 100, max_versions=5).blocks

    assert blocks[0].number == before + 1
    assert sum(block.transaction_count for block in blocks) == 14
    assert sum(block.version_count for block in blocks) == 29
    assert all(b.version_count <= 5 or b.transaction_count == 1 for b in blocks)
    shapes = [(b.transaction_count, b.version_count) for b in blocks]
    # Small transactions after large ones are sealed together again.
    assert any(count > 1 for count, _versions in shapes[shapes.index((1, 9)) + 1 :])
    assert verify_integrity(engine).intact


def test_blocks_sealed_with_several_readers_verify_on_one_connection(engine: sa.Engine) -> None:
    """Several connections sharing a snapshot on PostgreSQL, worker processes on SQLite."""
    for _ in range(20):
        add_sessions(engine, 1)
    wait_for_horizon(engine, last_transaction_id(engine))

    blocks = seal(engine, 1, readers=4).blocks

    assert len(blocks) > BLOCKS_PER_ROUND  # two rounds of read-ahead, in order
    assert [b.number for b in blocks] == list(range(1, len(blocks) + 1))
    assert multiprocessing.active_children() == []  # the workers ended with the seal
    report = verify_integrity(engine, readers=1)  # every block recomputed on one connection
    assert report.intact, [str(p) for p in report.problems]
    assert report.blocks == len(blocks)
