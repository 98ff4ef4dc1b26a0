"""The audit tables: the transaction record every version row points to
(Continuum's transaction table, with attribution columns of our own), the
registry, the SQLite attribution slot and the adoption record.

Each lives in the audit schema (:mod:`auditd.models.namespace`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from auditd.models.base import Base
from auditd.models.namespace import AUDIT_SCHEMA, qualify, transaction_table_name
from auditd.timestamps import UTCDateTime


class Transaction(Base):
    """One database transaction that changed versioned rows.

    On PostgreSQL ``id`` is the database's own 64-bit transaction id
    (``pg_current_xact_id()``), which lets every writer find its transaction
    row without session state and gives an exact commit-order horizon
    (see :mod:`auditd.stamps.horizon`). On SQLite it is an autoincrement, and
    SQLite's single writer makes id order equal commit order.
    """

    __tablename__ = transaction_table_name()
    __table_args__ = ({"sqlite_autoincrement": True, "schema": AUDIT_SCHEMA},)

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)
    issued_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime, nullable=False, index=True)
    actor: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), index=True)
    origin: orm.Mapped[str] = orm.mapped_column(sa.String(32), nullable=False)
    reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    remote_addr: orm.Mapped[str | None] = orm.mapped_column(sa.String(50))
    application: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    # What the database itself says about the writer, whatever it claims: on
    # PostgreSQL the column defaults fill them with session_user and
    # inet_client_addr() on every insert (NULL on SQLite, which has neither).
    db_role: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    client_addr: orm.Mapped[str | None] = orm.mapped_column(sa.String(50))

    def __repr__(self) -> str:
        return f"<Transaction id={self.id} issued_at={self.issued_at} actor={self.actor!r}>"


class OpenTransaction(Base):
    """SQLite only: the attribution slot the capture triggers read.

    Holds at most one row, for the write transaction in progress (SQLite
    allows one writer at a time). ``statement_stamp`` is NULL when an
    :class:`~auditd.capture.attribution.AuditSession` published the row and
    will clear it before commit; otherwise the triggers filled it for a
    foreign writer's statement, and it is valid only while that statement
    goes on (see :mod:`auditd.capture.attribution.sqlite`).
    """

    __tablename__ = "audittrail_open_transaction"
    __table_args__ = ({"schema": AUDIT_SCHEMA},)

    slot: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, sa.CheckConstraint("slot = 1", name="single_slot"), primary_key=True
    )
    transaction_id: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    statement_stamp: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    actor: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    origin: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    remote_addr: orm.Mapped[str | None] = orm.mapped_column(sa.String(50))


class ContextKey(Base):
    """PostgreSQL: the key that signs a published context (one row).

    Only the audit owner may read it: ``audittrail_set_context`` signs the
    context it publishes with it, and capture trusts a claimed actor,
    origin and reason only when the signature verifies (see
    :mod:`auditd.capture.claimed_context`). Empty on SQLite.
    """

    __tablename__ = "audittrail_context_key"
    __table_args__ = ({"schema": AUDIT_SCHEMA},)

    slot: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, sa.CheckConstraint("slot = 1", name="single_key"), primary_key=True
    )
    key: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary, nullable=False)


# What the database records of every writer, whatever it claims (PostgreSQL).
WRITER_DEFAULTS = {"db_role": "session_user", "client_addr": "host(inet_client_addr())"}


def key_table(schema: str | None) -> str:
    """The signing key's table in ``schema``, quoted and qualified."""
    return qualify(schema, ContextKey.__tablename__)


def postgresql_attribution_ddl(schema: str | None) -> list[str]:
    """PostgreSQL: what the audit tables need beyond their columns, for the
    transaction table and key in ``schema``: the writer's role and address
    as column defaults, the key closed to everyone but its owner, and a
    fresh key unless one exists. Idempotent; run by the revision that added
    them and when ``adopt`` builds the audit tables from these models."""
    transactions = qualify(schema, Transaction.__tablename__)
    return [
        *(
            f"ALTER TABLE {transactions} ALTER COLUMN {column} SET DEFAULT {default}"
            for column, default in WRITER_DEFAULTS.items()
        ),
        f"REVOKE ALL ON {key_table(schema)} FROM PUBLIC",
        # Two version-4 UUIDs: 244 bits from the server's strong random
        # source (gen_random_uuid is built in since PostgreSQL 13).
        f"INSERT INTO {key_table(schema)} (slot, key) VALUES (1, decode(replace("
        "gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))"
        " ON CONFLICT (slot) DO NOTHING",
    ]


class RegistryEntry(Base):
    """The registry: one canonical JSON entry per versioned table (see
    :mod:`auditd.registry`), written when capture is installed and read by
    every layer."""

    __tablename__ = "audittrail_capture"
    __table_args__ = ({"schema": AUDIT_SCHEMA},)

    table_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    spec: orm.Mapped[str] = orm.mapped_column(sa.Text, nullable=False)
    installed_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime, nullable=False)


class Adoption(Base):
    """One row per table that ``audittrail adopt`` took over: what it changed
    and how far its resumable baseline and stamp repair have come. Empty on a
    database that ``audittrail migrate`` created."""

    __tablename__ = "audittrail_adoption"
    __table_args__ = ({"schema": AUDIT_SCHEMA},)

    table_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    version_table: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    added_stamp_column: orm.Mapped[bool] = orm.mapped_column(sa.Boolean)
    adopted_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime)
    baseline_transaction_id: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    baseline_done_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)
    stamps_done_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime)


# The transaction record as a Core table, for the set-based queries of every layer.
TRANSACTION: sa.Table = Transaction.__table__  # type: ignore[assignment]
