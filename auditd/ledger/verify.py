"""``verify --integrity``: recompute the ledger and check the linkage.

Three independent checks, each catching what the others cannot:

1. The chain: every block follows its predecessor (number, previous hash,
   contiguous transaction ranges) and its stored hash is the hash of its
   own header and manifest.
2. The content: every seal block's manifest equals the elements recomputed
   from the rows now in the database, except what a prune block records as
   removed. Any edit, deletion or insertion of a sealed transaction row,
   version row or validity link shows as a changed, missing or unexpected
   element, located by table, key and transaction.
3. The linkage (:mod:`auditd.ledger.linkage`), over sealed and unsealed
   history alike.

An attacker who rewrites rows and then recomputes every manifest and hash
passes 1 and 2; only a digest stored outside the database before the
rewrite (``digests``) shows it: the stored hash of that block differs.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field

import sqlalchemy as sa

from auditd.ledger.block_reads import BlockContent
from auditd.ledger.blocks import (
    GENESIS_HASH,
    LEDGER_START,
    Block,
    Digest,
    decode_manifest,
    decode_pruned,
    read_blocks,
)
from auditd.ledger.canonical import (
    LINK_ELEMENT,
    TRANSACTION_ELEMENT,
    VERSION_ELEMENT,
    Element,
)
from auditd.ledger.linkage import linkage_problems
from auditd.ledger.parallel_reads import READERS, read_ranges
from auditd.ledger.seal import snapshot
from auditd.models.audit import TRANSACTION
from auditd.registry import load

__all__ = ["IntegrityProblem", "IntegrityReport", "verify_integrity"]

_CHANGED = {
    TRANSACTION_ELEMENT: "transaction row changed after it was sealed",
    VERSION_ELEMENT: "version row changed after it was sealed (values, operation or transaction)",
    LINK_ELEMENT: "validity link changed after it was sealed (end_transaction_id edited)",
}
_MISSING = {
    TRANSACTION_ELEMENT: "sealed transaction row deleted",
    VERSION_ELEMENT: "sealed version row deleted",
    LINK_ELEMENT: "sealed validity link removed or redirected (end_transaction_id edited)",
}
_UNEXPECTED = {
    TRANSACTION_ELEMENT: "transaction row inserted into a sealed range (forged)",
    VERSION_ELEMENT: "version row inserted into a sealed range (forged)",
    LINK_ELEMENT: "validity link added in a sealed range (end_transaction_id edited)",
}


@dataclass(frozen=True, kw_only=True)
class IntegrityProblem:
    """One finding: the block concerned (None: beyond the sealed range), the
    transaction, table and key (when known), and what is wrong."""

    block: int | None
    problem: str
    transaction_id: int | None = None
    table: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = [f"block {self.block}" if self.block is not None else "unsealed history"]
        if self.transaction_id is not None:
            where.append(f"transaction {self.transaction_id}")
        if self.table:
            where.append(f"{self.table} {self.key}" if self.key else self.table)
        return f"{', '.join(where)}: {self.problem}"

    def sort_key(self) -> tuple[int, int]:
        block = self.block if self.block is not None else 2**63
        return (block, self.transaction_id or 0)


@dataclass(frozen=True, kw_only=True)
class IntegrityReport:
    """What ``verify --integrity`` found. ``problems`` are sorted by block, so
    the first is the first broken block."""

    blocks: int
    transactions: int
    versions: int
    pruned: int
    unsealed_transactions: int
    digests_checked: int
    problems: tuple[IntegrityProblem, ...] = field(default=())

    @property
    def intact(self) -> bool:
        return not self.problems


def _element_problem(
    block: int, element: Element, messages: dict[str, str], table: str
) -> IntegrityProblem:
    return IntegrityProblem(
        block=block,
        transaction_id=element.transaction_id,
        table=element.table or table,
        key=element.key or None,
        problem=messages[element.kind],
    )


def _compare(
    block: Block, live: BlockContent, removed: dict[tuple[str, str, str, int], str]
) -> list[IntegrityProblem]:
    sealed_manifest = _manifest(block)
    if live.manifest == sealed_manifest:
        return []  # the common case: the rows are what was sealed
    # e[:4] is e.identity, sliced without a Python call: a block holds
    # thousands of elements.
    sealed = {e[:4]: e for e in decode_manifest(sealed_manifest)}
    now = {e[:4]: e for e in live.elements()}
    found = []
    transaction_table = TRANSACTION.name
    for identity, element in sealed.items():
        current = now.get(identity)
        if current is None:
            if removed.get(identity) != element.digest:
                found.append(_element_problem(block.number, element, _MISSING, transaction_table))
        elif current.digest != element.digest:
            found.append(_element_problem(block.number, element, _CHANGED, transaction_table))
    for identity, element in now.items():
        if identity not in sealed:
            found.append(_element_problem(block.number, element, _UNEXPECTED, transaction_table))
    return found


def _manifest(block: Block) -> bytes:
    return zlib.decompress(block.manifest)


def _chain_problem(block: Block, previous: Block | None) -> IntegrityProblem | None:
    expected_number = 1 if previous is None else previous.number + 1
    expected_previous = GENESIS_HASH if previous is None else previous.hash
    sealed_through = LEDGER_START if previous is None else previous.last_transaction_id
    if block.number != expected_number:
        return IntegrityProblem(block=block.number, problem=f"block {expected_number} is missing")
    if block.previous_hash != expected_previous:
        return IntegrityProblem(
            block=block.number, problem="previous_hash is not the hash of the block before"
        )
    if block.computed_hash() != block.hash:
        return IntegrityProblem(
            block=block.number, problem="stored hash differs from the block's header and manifest"
        )
    if block.kind == "seal" and block.first_transaction_id != sealed_through:
        return IntegrityProblem(
            block=block.number, problem="transaction range does not follow the block before"
        )
    if block.kind == "prune" and block.last_transaction_id != sealed_through:
        return IntegrityProblem(block=block.number, problem="prune block moves the sealed range")
    return None


def _removed(connection: sa.Connection) -> dict[int, dict[tuple[str, str, str, int], str]]:
    """Per seal block, the identity → digest of each element pruned from it."""
    removed: dict[int, dict[tuple[str, str, str, int], str]] = {}
    for block in read_blocks(connection, kind="prune"):
        for item in decode_pruned(_manifest(block)):
            removed.setdefault(item.block, {})[item.element.identity] = item.element.digest
    return removed


def _digest_problems(digests: Sequence[Digest], stored: dict[int, Block]) -> list[IntegrityProblem]:
    found = []
    for digest in digests:
        block = stored.get(digest.block)
        taken = digest.sealed_at.isoformat()
        if block is None:
            found.append(
                IntegrityProblem(
                    block=digest.block,
                    problem=f"block of the external digest sealed {taken} is missing "
                    "(the ledger was truncated or rebuilt)",
                )
            )
        elif (block.hash, block.last_transaction_id) != (digest.hash, digest.last_transaction_id):
            found.append(
                IntegrityProblem(
                    block=digest.block,
                    transaction_id=digest.last_transaction_id,
                    problem=f"differs from the external digest sealed {taken}: the ledger was "
                    "rewritten after that digest was taken",
                )
            )
    return found


def verify_integrity(
    engine: sa.Engine,
    digests: Sequence[Digest] = (),
    *,
    progress: Callable[[int], None] = lambda versions: None,
    readers: int = READERS,
) -> IntegrityReport:
    """Recompute every block from the rows in the database, check the chain,
    the linkage and the external ``digests``; read-only, one snapshot, whose
    seal blocks are recomputed by up to ``readers`` readers at once
    (:mod:`auditd.ledger.parallel_reads`).

    ``progress`` is called after each block with the versions checked so far.
    """
    problems: list[IntegrityProblem] = []
    with snapshot(engine).connect() as connection, connection.begin():
        registry = load(connection)
        chain = _Chain(connection)
        wanted = chain.seal_ranges()
        with closing(read_ranges(connection, registry.entries, wanted, readers=readers)) as live:
            for content in live:
                block = chain.sealed.popleft()
                problems += _compare(block, content, chain.removed.get(block.number, {}))
                chain.versions += block.version_count
                progress(chain.versions)
        problems += chain.problems
        unsealed = connection.scalar(
            sa.select(sa.func.count()).where(TRANSACTION.c.id > chain.sealed_through)
        )
        for linkage in linkage_problems(connection, registry):
            tx = linkage.transaction_id
            block_number = next(
                (n for first, last, n in chain.ranges if tx is not None and first < tx <= last),
                None,
            )
            problems.append(
                IntegrityProblem(
                    block=block_number,
                    transaction_id=tx,
                    table=linkage.table,
                    key=linkage.key,
                    problem=linkage.problem,
                )
            )
    problems += _digest_problems(digests, chain.stored)
    problems.sort(key=IntegrityProblem.sort_key)
    return IntegrityReport(
        blocks=len(chain.stored),
        transactions=chain.transactions,
        versions=chain.versions,
        pruned=chain.pruned,
        unsealed_transactions=int(unsealed or 0),
        digests_checked=len(digests),
        problems=tuple(problems),
    )


class _Chain:
    """The ledger's blocks as one verification walks them: the chain checked
    block by block, the seal blocks waiting for their recomputed content."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self.removed = _removed(connection)
        self.problems: list[IntegrityProblem] = []
        self.stored: dict[int, Block] = {}  # every block, without its manifest
        self.sealed: deque[Block] = deque()  # read, content not compared yet
        self.ranges: list[tuple[int, int, int]] = []  # (after, through, block number)
        self.sealed_through = LEDGER_START
        self.transactions = self.versions = self.pruned = 0

    def seal_ranges(self) -> Iterator[tuple[int, int]]:
        """Each seal block's transaction range, in chain order, checking the
        chain (and counting prune blocks) as the blocks stream by."""
        previous: Block | None = None
        for block in read_blocks(self._connection):
            self.stored[block.number] = Block(**{**block.__dict__, "manifest": b""})
            broken = _chain_problem(block, previous)
            if broken is not None:
                self.problems.append(broken)
            if block.kind == "seal":
                self.sealed.append(block)
                self.ranges.append(
                    (block.first_transaction_id, block.last_transaction_id, block.number)
                )
                self.transactions += block.transaction_count
                yield block.first_transaction_id, block.last_transaction_id
            else:
                self.pruned += len(decode_pruned(_manifest(block)))
            previous = block
            self.sealed_through = block.last_transaction_id
