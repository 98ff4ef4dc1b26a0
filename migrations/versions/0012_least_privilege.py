"""Capture generator 10: least privilege, append-only history, recorded database identity.

* The transaction record gains ``db_role`` and ``client_addr``: on
  PostgreSQL their defaults record ``session_user`` and the client address
  of every writer, whatever context it claims (NULL on SQLite).
* ``audittrail_context_key`` holds the key that signs a context published
  through ``audittrail_set_context`` (PostgreSQL; see
  :mod:`auditd.capture.claimed_context`).
* Capture functions run as their owner (``SECURITY DEFINER``, fixed
  ``search_path``); guard triggers refuse UPDATE, DELETE and TRUNCATE of
  committed history (:mod:`auditd.capture.append_only`). Every registered
  table's triggers are regenerated.

Names come from the models, so that a revision renaming the audit tables
before this one runs keeps it right.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auditd import capture, registry
from auditd.capture import append_only, claimed_context
from auditd.models.audit import ContextKey, Transaction
from auditd.registry import quote

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 10
CAPTURE_SQL_DIGEST = "af44e47cb8ee3e3eab60812f52deb8181e9320f5ec0b99f348096df007720368"

TRANSACTION = Transaction.__tablename__
KEY_TABLE = ContextKey.__tablename__


def upgrade() -> None:
    connection = op.get_bind()
    postgresql = connection.dialect.name == "postgresql"
    op.add_column(
        TRANSACTION,
        sa.Column(
            "db_role",
            sa.String(length=255),
            nullable=True,
            server_default=sa.text("session_user") if postgresql else None,
        ),
    )
    op.add_column(
        TRANSACTION,
        sa.Column(
            "client_addr",
            sa.String(length=50),
            nullable=True,
            server_default=sa.text("host(inet_client_addr())") if postgresql else None,
        ),
    )
    op.create_table(
        KEY_TABLE,
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("slot = 1", name=op.f(f"ck_{KEY_TABLE}_single_key")),
        sa.PrimaryKeyConstraint("slot", name=op.f(f"pk_{KEY_TABLE}")),
    )
    if postgresql:
        op.execute(f"REVOKE ALL ON {quote(KEY_TABLE)} FROM PUBLIC")
        op.execute(claimed_context.CREATE_KEY)
    capture.install(connection, registry.load(connection))


def downgrade() -> None:
    # A build can only generate its own capture triggers; they run on the
    # schema of revision 0009 too (the columns they no longer fill are
    # gone, a published context is no longer trusted). The guards go.
    connection = op.get_bind()
    entries = registry.load(connection)
    if connection.dialect.name == "postgresql":
        for table in (TRANSACTION, *(e.version_table for e in entries)):
            for statement in append_only.postgresql_drop_ddl(table):
                op.execute(statement)
        op.execute(f"DROP FUNCTION IF EXISTS {append_only.GUARD_FUNCTION_NAME}()")
        for statement in claimed_context.DROP_DDL:
            op.execute(statement)
    else:
        for table in (TRANSACTION, *(e.version_table for e in entries)):
            for statement in append_only.sqlite_drop_ddl(table):
                op.execute(statement)
    op.drop_table(KEY_TABLE)
    op.execute(f"ALTER TABLE {quote(TRANSACTION)} DROP COLUMN client_addr")
    op.execute(f"ALTER TABLE {quote(TRANSACTION)} DROP COLUMN db_role")
