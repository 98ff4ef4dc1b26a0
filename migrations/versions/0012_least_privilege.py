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
Revises: 0011
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auditd import capture, registry
from auditd.capture import claimed_context
from auditd.models.audit import ContextKey, Transaction
from auditd.models.namespace import audit_schema, qualify

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 10
CAPTURE_SQL_DIGEST = "84e24baa6a32166bb5c45c7f9b143a846d38ebbf01a541e89d502279ebcb2830"

TRANSACTION = Transaction.__tablename__
KEY_TABLE = ContextKey.__tablename__


def upgrade() -> None:
    connection = op.get_bind()
    postgresql = connection.dialect.name == "postgresql"
    # Alembic's ALTER statements do not apply the engine's schema
    # translation: name the audit schema itself.
    schema = audit_schema(connection)
    # Added without a default, then given one: the transactions recorded
    # before keep NULL (unknown), not the role that runs this migration.
    defaults = {"db_role": "session_user", "client_addr": "host(inet_client_addr())"}
    for column, length in (("db_role", 255), ("client_addr", 50)):
        op.add_column(
            TRANSACTION, sa.Column(column, sa.String(length=length), nullable=True), schema=schema
        )
        if postgresql:
            op.alter_column(
                TRANSACTION, column, server_default=sa.text(defaults[column]), schema=schema
            )
    op.create_table(
        KEY_TABLE,
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("slot = 1", name=op.f(f"ck_{KEY_TABLE}_single_key")),
        sa.PrimaryKeyConstraint("slot", name=op.f(f"pk_{KEY_TABLE}")),
        schema=schema,
    )
    if postgresql:
        op.execute(f"REVOKE ALL ON {claimed_context.key_table(schema)} FROM PUBLIC")
        op.execute(claimed_context.create_key(schema))
    capture.install(connection, registry.load(connection))


def downgrade() -> None:
    # A build can only generate its own capture triggers; they run on the
    # schema of revision 0011 too (the columns they no longer fill are
    # gone, a published context is no longer trusted). The guards go.
    connection = op.get_bind()
    entries = registry.load(connection)
    if entries:
        capture.drop_guards(connection, entries)
    op.drop_table(KEY_TABLE, schema=audit_schema(connection))
    transactions = qualify(audit_schema(connection), TRANSACTION)
    op.execute(f"ALTER TABLE {transactions} DROP COLUMN client_addr")
    op.execute(f"ALTER TABLE {transactions} DROP COLUMN db_role")
