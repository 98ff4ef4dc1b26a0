"""The sealed ledger: a hash chain of blocks over committed history.

A ``seal`` block covers the transactions with ids in
``(first_transaction_id, last_transaction_id]`` and holds the manifest of
everything they wrote: one entry per transaction row, per version row and
per validity link they set, each with the digest of its canonical
serialisation (see :mod:`auditd.ledger.canonical`). A ``prune`` block
records what retention removed from earlier seal blocks. Each block's
``hash`` covers its header, its manifest and ``previous_hash``, so the
latest hash (``audittrail digest``) vouches for the whole chain.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from auditd.models.base import Base
from auditd.models.namespace import AUDIT_SCHEMA
from auditd.timestamps import UTCDateTime

BLOCK_KINDS = ("seal", "prune")


class LedgerBlock(Base):
    """One block of the ledger (see the module docstring).

    ``last_transaction_id`` is how far the ledger has sealed once this block
    is appended (a prune block repeats its predecessor's); ``manifest`` is
    the zlib-compressed canonical manifest, the text the hash covers.
    """

    __tablename__ = "audittrail_ledger_block"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind}'" for kind in BLOCK_KINDS) + ")", name="kind"
        ),
        {"schema": AUDIT_SCHEMA},
    )

    number: orm.Mapped[int] = orm.mapped_column(
        sa.BigInteger, primary_key=True, autoincrement=False
    )
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16), nullable=False)
    first_transaction_id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, nullable=False)
    last_transaction_id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, nullable=False)
    transaction_count: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, nullable=False)
    version_count: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, nullable=False)
    manifest: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary, nullable=False)
    previous_hash: orm.Mapped[str] = orm.mapped_column(sa.String(64), nullable=False)
    hash: orm.Mapped[str] = orm.mapped_column(sa.String(64), nullable=False)
    sealed_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime, nullable=False)


# The ledger as a Core table, for the set-based reads and writes of the ledger package.
LEDGER_BLOCK: sa.Table = LedgerBlock.__table__  # type: ignore[assignment]
