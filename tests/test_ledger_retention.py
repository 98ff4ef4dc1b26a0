"""Retention: prune removes old sealed history and the ledger still verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from test_daemon_support import add_sessions, quick_write
from test_ledger_support import (
    SESSION_VERSION,
    Sealed,
    seal_everything,
    sealed,
    talk_versions,
    tamper,
)

from auditd import api
from auditd.errors import ConfigError
from auditd.ledger import verify_integrity
from auditd.ledger.prune import prune
from auditd.models.audit import TRANSACTION
from auditd.models.ledger import LEDGER_BLOCK
from auditd.stamps.derive import derive_last_modified
from auditd.timestamps import utcnow

__all__ = ["sealed"]

LATER = timedelta(days=40)  # how far in the future the prunes below run


def _counts(sealed: Sealed) -> tuple[int, int]:
    with sealed.engine.connect() as connection:
        versions = connection.scalar(sa.select(sa.func.count()).select_from(SESSION_VERSION))
        transactions = connection.scalar(sa.select(sa.func.count()).select_from(TRANSACTION))
    return int(versions or 0), int(transactions or 0)


def _current_versions(sealed: Sealed) -> set[tuple[int, int]]:
    with sealed.engine.connect() as connection:
        rows = connection.execute(
            sa.select(SESSION_VERSION.c.id, SESSION_VERSION.c.transaction_id).where(
                SESSION_VERSION.c.end_transaction_id.is_(None)
            )
        )
        return {(row.id, row.transaction_id) for row in rows}


def _stamps(sealed: Sealed) -> dict[int, object]:
    with sealed.engine.connect() as connection:
        return derive_last_modified(connection)


def test_prune_refuses_to_run_without_a_retention_window(sealed: Sealed) -> None:
    with pytest.raises(ConfigError, match="keep_days"):
        prune(sealed.engine, 0, 100)


def test_prune_removes_old_sealed_history_and_the_ledger_still_verifies(sealed: Sealed) -> None:
    versions, transactions = _counts(sealed)
    current, stamps = _current_versions(sealed), _stamps(sealed)
    outcome = prune(sealed.engine, 30, 100, now=utcnow() + LATER)
    assert outcome.versions > 0 and outcome.transactions > 0 and outcome.blocks > 0
    assert _counts(sealed) < (versions, transactions)
    assert _current_versions(sealed) == current  # every row keeps its current version
    assert _stamps(sealed) == stamps  # and what last_modified_at derives from
    report = verify_integrity(sealed.engine)
    assert report.intact, [str(p) for p in report.problems]
    assert report.pruned > 0
    assert api.history(sealed.engine, "session", sealed.talk)  # what is left still reads


def test_prune_keeps_history_inside_the_window(sealed: Sealed) -> None:
    before = _counts(sealed)
    assert prune(sealed.engine, 30, 100).versions == 0
    assert _counts(sealed) == before


def test_prune_leaves_unsealed_history_alone(sealed: Sealed) -> None:
    ids = add_sessions(sealed.engine, 3, title="unsealed")
    with sealed.engine.begin() as connection:  # close their versions through capture
        connection.execute(
            sa.text("UPDATE sessions SET title = 'renamed' WHERE id IN (:a, :b, :c)"),
            dict(zip("abc", ids, strict=True)),
        )
    prune(sealed.engine, 30, 100, now=utcnow() + LATER)
    with sealed.engine.connect() as connection:
        left = connection.scalar(
            sa.select(sa.func.count())
            .select_from(SESSION_VERSION)
            .where(SESSION_VERSION.c.id.in_(ids))
        )
    assert left == 6
    assert verify_integrity(sealed.engine).intact


def test_tampering_with_what_remains_after_a_prune_is_still_detected(sealed: Sealed) -> None:
    prune(sealed.engine, 30, 100, now=utcnow() + LATER)
    current = talk_versions(sealed)[-1]
    tamper(
        sealed.engine,
        sa.update(SESSION_VERSION)
        .where(
            SESSION_VERSION.c.id == sealed.talk,
            SESSION_VERSION.c.transaction_id == current.transaction_id,
        )
        .values(title="FORGED"),
    )
    report = verify_integrity(sealed.engine)
    assert not report.intact
    assert report.problems[0].transaction_id == current.transaction_id


def test_prune_in_bounded_batches_resumes_where_it_stopped(sealed: Sealed) -> None:
    batches: list[int] = []
    first = prune(
        sealed.engine,
        30,
        1,
        now=utcnow() + LATER,
        should_stop=lambda: len(batches) >= 2,
        on_batch=batches.append,
    )
    assert first.blocks == 2 and first.versions == 2
    rest = prune(sealed.engine, 30, 1, now=utcnow() + LATER)
    assert rest.versions > 0
    assert prune(sealed.engine, 30, 1, now=utcnow() + LATER).versions == 0
    with sealed.engine.connect() as connection:
        prune_blocks = connection.scalar(
            sa.select(sa.func.count()).where(LEDGER_BLOCK.c.kind == "prune")
        )
    assert prune_blocks == first.blocks + rest.blocks
    assert verify_integrity(sealed.engine).intact


def test_a_dry_run_prune_changes_nothing(sealed: Sealed) -> None:
    before = _counts(sealed)
    outcome = prune(sealed.engine, 30, 100, dry_run=True, now=utcnow() + LATER)
    assert outcome.versions > 0 and outcome.blocks == 0
    assert _counts(sealed) == before
    # The same figures whatever the batch size: a transaction is counted once.
    in_small_batches = prune(sealed.engine, 30, 2, dry_run=True, now=utcnow() + LATER)
    assert (in_small_batches.versions, in_small_batches.transactions) == (
        outcome.versions,
        outcome.transactions,
    )
    assert prune(sealed.engine, 30, 100, now=utcnow() + LATER).versions == outcome.versions


def test_a_prune_committed_during_a_verification_is_not_taken_for_tampering(
    sealed: Sealed,
) -> None:
    """Blocks read ahead on other connections (or processes) must be read as
    the verification's snapshot sees them, whatever a prune removes meanwhile."""
    ids = add_sessions(sealed.engine, 1, title="renamed often")
    for round_ in range(24):  # closed versions, one transaction each: more blocks
        with quick_write(sealed.engine) as connection:
            connection.execute(
                sa.text("UPDATE sessions SET title = :t WHERE id = :id"),
                {"t": f"title {round_}", "id": ids[0]},
            )
    seal_everything(sealed.engine)
    versions_before = _versions(sealed)
    pruned: list[int] = []

    def prune_after_the_first_block(_versions_so_far: int) -> None:
        if not pruned:
            pruned.append(prune(sealed.engine, 30, 1_000, now=utcnow() + LATER).versions)

    during = verify_integrity(sealed.engine, readers=2, progress=prune_after_the_first_block)

    assert pruned[0] > 0
    removed_from = _blocks_of(sealed, versions_before - _versions(sealed))
    assert max(removed_from) > 2 * 2 + 1, "the prune touched no block read after it"
    assert during.intact, [str(p) for p in during.problems]
    assert during.pruned == 0  # the snapshot the verification began with
    after = verify_integrity(sealed.engine, readers=2)
    assert after.intact, [str(p) for p in after.problems]
    assert after.pruned > 0


def _versions(sealed: Sealed) -> set[tuple[int, int]]:
    with sealed.engine.connect() as connection:
        rows = connection.execute(
            sa.select(SESSION_VERSION.c.id, SESSION_VERSION.c.transaction_id)
        ).all()
    return {(row.id, row.transaction_id) for row in rows}


def _blocks_of(sealed: Sealed, versions: set[tuple[int, int]]) -> set[int]:
    """The numbers of the seal blocks holding these (key, transaction) versions."""
    with sealed.engine.connect() as connection:
        blocks = connection.execute(
            sa.select(
                LEDGER_BLOCK.c.number,
                LEDGER_BLOCK.c.first_transaction_id,
                LEDGER_BLOCK.c.last_transaction_id,
            ).where(LEDGER_BLOCK.c.kind == "seal")
        ).all()
    return {
        block.number
        for _key, tx in versions
        for block in blocks
        if block.first_transaction_id < tx <= block.last_transaction_id
    }
