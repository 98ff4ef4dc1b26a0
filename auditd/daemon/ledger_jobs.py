"""The ledger's jobs, as thin functions over :mod:`auditd.ledger`.

* ``seal``: append blocks over the committed history behind the horizon;
  log each new block's digest and append it to ``ledger.digest_file``.
* ``prune``: remove sealed history older than ``retention.keep_days``,
  recorded in prune blocks.

Each counts versions in ``rows_scanned`` (sealed, or removed) and stores
what it did in the run's findings.
"""

from __future__ import annotations

from auditd.config import Settings
from auditd.daemon.runner import JobBody, RunHandle
from auditd.ledger import Block, append_digest, reader_count, seal
from auditd.ledger.digests import require_appendable
from auditd.ledger.prune import prune
from auditd.logging import get_logger
from auditd.stamps.repair import BatchOutcome

__all__ = ["ledger_job_body"]

_TABLE = "ledger"


def _keep_going(handle: RunHandle) -> bool:
    handle.checkpoint()  # raises between two blocks or batches when asked to stop
    return False


def seal_body(settings: Settings) -> JobBody:
    """The ``seal`` job for these settings."""

    def seal_ledger(handle: RunHandle) -> None:
        log = get_logger(__name__)
        digest_file = settings.ledger.digest_file
        if digest_file is not None:
            require_appendable(digest_file)

        def sealed(block: Block) -> None:
            handle.tally(BatchOutcome(table=_TABLE, scanned=block.version_count))
            digest = block.digest()
            log.info(
                "ledger digest",
                block=digest.block,
                last_transaction_id=digest.last_transaction_id,
                hash=digest.hash,
                sealed_at=digest.sealed_at.isoformat(),
            )
            if digest_file is not None:
                append_digest(digest_file, digest)

        outcome = seal(
            handle.engine,
            settings.ledger.block_size,
            should_stop=lambda: _keep_going(handle),
            on_block=sealed,
            readers=reader_count(settings.ledger.readers),
        )
        handle.findings = {
            "blocks_sealed": len(outcome.blocks),
            "transactions_sealed": outcome.transactions,
            "versions_sealed": outcome.versions,
        }
        if outcome.blocks:
            handle.findings["digest"] = outcome.blocks[-1].digest().to_json()

    return seal_ledger


def prune_body(settings: Settings) -> JobBody:
    """The ``prune`` job for these settings (refused while retention is off)."""

    def prune_history(handle: RunHandle) -> None:
        done = [0]

        def batch(removed: int) -> None:
            handle.tally(BatchOutcome(table=_TABLE, scanned=removed - done[0]))
            done[0] = removed

        outcome = prune(
            handle.engine,
            settings.retention.keep_days,
            handle.batch_size,
            dry_run=handle.dry_run,
            should_stop=lambda: _keep_going(handle),
            on_batch=batch,
        )
        handle.findings = {
            "cutoff": outcome.cutoff.isoformat(),
            "versions_removed": outcome.versions,
            "transactions_removed": outcome.transactions,
            "prune_blocks": outcome.blocks,
        }

    return prune_history


def ledger_job_body(job: str, settings: Settings) -> JobBody | None:
    """The body of ``job`` if it is a ledger job, else None."""
    if job == "seal":
        return seal_body(settings)
    if job == "prune":
        return prune_body(settings)
    return None
