"""The sealed ledger: a hash chain of blocks over committed history.

``audittrail_ledger_block`` holds one row per block (see
:mod:`auditd.models.ledger`); ``audittrail seal`` and the daemon's ``seal``
job append to it, ``audittrail prune`` appends prune blocks, and
``audittrail verify --integrity`` recomputes it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import auditd.timestamps
from auditd.models.namespace import AUDIT_SCHEMA

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audittrail_ledger_block",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("first_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("last_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_count", sa.BigInteger(), nullable=False),
        sa.Column("version_count", sa.BigInteger(), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", auditd.timestamps.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('seal', 'prune')", name=op.f("ck_audittrail_ledger_block_kind")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_audittrail_ledger_block")),
        schema=AUDIT_SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("audittrail_ledger_block", schema=AUDIT_SCHEMA)
