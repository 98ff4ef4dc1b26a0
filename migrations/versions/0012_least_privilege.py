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
from auditd.models.audit import ContextKey, Transaction, postgresql_attribution_ddl
from auditd.models.namespace import audit_schema, qualify

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 10
CAPTURE_SQL_DIGEST = "dc59fb4cb81189ffa2b5e32a1ae89d25712e6557d0510b6a42eb95a6024174e6"

TRANSACTION = Transaction.__tablename__
KEY_TABLE = ContextKey.__tablename__


def upgrade() -> None:
    connection = op.get_bind()
    postgresql = connection.dialect.name == "postgresql"
    # Alembic's ALTER statements do not apply the engine's schema
    # translation: name the audit schema itself.
    schema = audit_schema(connection)
    # Added without a default (given below): the transactions recorded
    # before keep NULL (unknown), not the role that runs this migration.
    for column, length in (("db_role", 255), ("client_addr", 50)):
        op.add_column(
            TRANSACTION, sa.Column(column, sa.String(length=length), nullable=True), schema=schema
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
        for statement in postgresql_attribution_ddl(schema):
            op.execute(statement)
    capture.install(connection, registry.load(connection))


def downgrade() -> None:
    # A build can only generate its own capture triggers; they run on the
    # schema of revision 0011 too: the columns they no longer fill are gone,
    # and without the key the signing function signs nothing, so a published
    # context is recorded as origin 'sql' (writes go on). The guards go.
    connection = op.get_bind()
    capture.drop_guards(connection, registry.load(connection))
    op.drop_table(KEY_TABLE, schema=audit_schema(connection))
    transactions = qualify(audit_schema(connection), TRANSACTION)
    op.execute(f"ALTER TABLE {transactions} DROP COLUMN client_addr")
    op.execute(f"ALTER TABLE {transactions} DROP COLUMN db_role")
