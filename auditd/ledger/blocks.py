"""Blocks: their manifests, their hashes, and the chain they form.

A block's hash is the SHA-256 of its header (number, kind, transaction
range, counts, time, previous hash) and its manifest, one element per line.
Changing anything a block covers, or any earlier block, changes every hash
from there on; the latest hash (a :class:`Digest`) therefore vouches for
the whole chain.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from auditd.ledger.canonical import Element
from auditd.models.ledger import LEDGER_BLOCK

__all__ = [
    "GENESIS_HASH",
    "LEDGER_START",
    "Block",
    "Digest",
    "PrunedElement",
    "block_hash",
    "decode_manifest",
    "decode_pruned",
    "encode_manifest",
    "encode_pruned",
    "insert_block",
    "latest_block",
    "manifest_lines",
    "manifest_table",
    "new_block",
    "read_blocks",
]

# The previous hash of block 1.
GENESIS_HASH = "0" * 64
# Where block 1's transaction range starts: below every transaction id (ids
# may be negative, e.g. history loaded below PostgreSQL's xids).
LEDGER_START = -(2**63)


@dataclass(frozen=True, kw_only=True)
class PrunedElement:
    """An element that retention removed from seal block ``block``."""

    block: int
    element: Element


@dataclass(frozen=True, kw_only=True)
class Digest:
    """What an operator stores outside the database: the latest block's
    number, how far it sealed, its hash and when it was sealed."""

    block: int
    last_transaction_id: int
    hash: str
    sealed_at: datetime

    def to_json(self) -> str:
        """One JSON object on one line, as ``audittrail digest`` prints it."""
        return json.dumps(
            {
                "block": self.block,
                "last_transaction_id": self.last_transaction_id,
                "hash": self.hash,
                "sealed_at": self.sealed_at.isoformat(),
            },
            separators=(", ", ": "),
        )


@dataclass(frozen=True, kw_only=True)
class Block:
    """One stored block, its manifest still compressed."""

    number: int
    kind: str
    first_transaction_id: int
    last_transaction_id: int
    transaction_count: int
    version_count: int
    manifest: bytes
    previous_hash: str
    hash: str
    sealed_at: datetime

    def header(self) -> bytes:
        """The header text the hash covers."""
        return json.dumps(
            {
                "number": self.number,
                "kind": self.kind,
                "first_transaction_id": self.first_transaction_id,
                "last_transaction_id": self.last_transaction_id,
                "transaction_count": self.transaction_count,
                "version_count": self.version_count,
                "previous_hash": self.previous_hash,
                "sealed_at": self.sealed_at.isoformat(),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def computed_hash(self) -> str:
        """The hash this block's header and manifest give."""
        return block_hash(self.header(), zlib.decompress(self.manifest))

    def digest(self) -> Digest:
        return Digest(
            block=self.number,
            last_transaction_id=self.last_transaction_id,
            hash=self.hash,
            sealed_at=self.sealed_at,
        )


def block_hash(header: bytes, manifest: bytes) -> str:
    return hashlib.sha256(header + b"\n" + manifest).hexdigest()


_MANIFEST = json.JSONEncoder(separators=(",", ":"))


def _manifest_line(element: Element, tables: dict[str, str]) -> str:
    table = tables.get(element.table)
    if table is None:
        table = tables[element.table] = manifest_table(element.table)
    key = element.key
    quoted = f'"{key}"' if '"' not in key and "\\" not in key else _MANIFEST.encode(key)
    # Exactly what the encoder writes for the list, without building it.
    return f'["{element.kind}",{table},{quoted},{element.transaction_id},"{element.digest}"]'


def manifest_lines(elements: Sequence[Element]) -> list[str]:
    """Each element's line of a seal block's manifest: one JSON array."""
    tables: dict[str, str] = {}
    return [_manifest_line(element, tables) for element in elements]


def manifest_table(table: str) -> str:
    """A table name as a manifest line writes it (JSON text)."""
    return _MANIFEST.encode(table)


def encode_manifest(elements: Sequence[Element]) -> bytes:
    """A seal block's manifest text: one JSON array per element."""
    return "\n".join(manifest_lines(elements)).encode()


def decode_manifest(text: bytes) -> list[Element]:
    # Lines are JSON arrays and a newline inside a JSON string is escaped, so
    # the whole manifest parses as one array of them (one parser call, not
    # one per element).
    lines = json.loads(b"[" + text.strip(b"\n").replace(b"\n", b",") + b"]")
    return [
        Element(kind, table, key, int(transaction_id), digest)
        for kind, table, key, transaction_id, digest in lines
    ]


def encode_pruned(pruned: Sequence[PrunedElement]) -> bytes:
    """A prune block's manifest text: each removed element, after the block it
    was sealed in."""
    return "\n".join(
        json.dumps([item.block, *item.element], separators=(",", ":")) for item in pruned
    ).encode()


def decode_pruned(text: bytes) -> list[PrunedElement]:
    return [
        PrunedElement(block=int(block), element=Element(kind, table, key, int(tx), digest))
        for block, kind, table, key, tx, digest in (
            json.loads(line) for line in text.decode().splitlines() if line
        )
    ]


def _block(row: sa.RowMapping) -> Block:
    return Block(**{column.name: row[column.name] for column in LEDGER_BLOCK.c})


def latest_block(connection: sa.Connection) -> Block | None:
    """The last block of the chain, or None before the first seal."""
    row = (
        connection.execute(sa.select(LEDGER_BLOCK).order_by(LEDGER_BLOCK.c.number.desc()).limit(1))
        .mappings()
        .first()
    )
    return None if row is None else _block(row)


def read_blocks(connection: sa.Connection, *, kind: str | None = None) -> Iterator[Block]:
    """Every block in chain order (only those of ``kind`` if given), streamed."""
    query = sa.select(LEDGER_BLOCK).order_by(LEDGER_BLOCK.c.number)
    if kind is not None:
        query = query.where(LEDGER_BLOCK.c.kind == kind)
    for row in connection.execution_options(yield_per=100).execute(query).mappings():
        yield _block(row)


def new_block(
    previous: Block | None,
    *,
    kind: str,
    first_transaction_id: int,
    last_transaction_id: int,
    transaction_count: int,
    version_count: int,
    manifest: bytes,
    sealed_at: datetime,
) -> Block:
    """The block that follows ``previous``, its hash computed (``sealed_at`` is
    kept to the second, which every backend stores exactly)."""
    sealed_at = sealed_at.astimezone(UTC).replace(microsecond=0)
    draft = Block(
        number=1 if previous is None else previous.number + 1,
        kind=kind,
        first_transaction_id=first_transaction_id,
        last_transaction_id=last_transaction_id,
        transaction_count=transaction_count,
        version_count=version_count,
        # The fastest level: manifests are hex digests and ids, which compress
        # almost as well at 1 as at 6 (4 % larger), in under half the time.
        manifest=zlib.compress(manifest, 1),
        previous_hash=GENESIS_HASH if previous is None else previous.hash,
        hash="",
        sealed_at=sealed_at,
    )
    return Block(**{**draft.__dict__, "hash": block_hash(draft.header(), manifest)})


def insert_block(connection: sa.Connection, block: Block) -> None:
    """Append ``block``. Raises SQLAlchemy's ``IntegrityError`` when another
    process appended a block of that number first."""
    connection.execute(sa.insert(LEDGER_BLOCK).values(**block.__dict__))
