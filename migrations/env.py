"""Alembic environment: runs on the connection that auditd.migrate hands over."""

from __future__ import annotations

from alembic import context

from auditd.migrate import version_table_options
from auditd.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `audittrail migrate` (auditd.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # Our own version table, in the audit schema: an adopted Open Event
    # Server database already has an alembic_version table of its own.
    **version_table_options(connection),
)
with context.begin_transaction():
    context.run_migrations()
