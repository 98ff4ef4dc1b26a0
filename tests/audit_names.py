"""Names of the audit tables as a test's raw SQL must write them: quoted and
qualified by the audit schema this engine uses (none on SQLite)."""

from __future__ import annotations

import sqlalchemy as sa

from auditd.models.namespace import Layout, current_layout, qualify


def layout_of(bind: sa.Connection | sa.Engine) -> Layout:
    if isinstance(bind, sa.Engine):
        with bind.connect() as connection:
            return current_layout(connection)
    return current_layout(bind)


def versions(bind: sa.Connection | sa.Engine, table: str) -> str:
    """``table``'s version table."""
    layout = layout_of(bind)
    return qualify(layout.schema, layout.version_table(table))


def transactions(bind: sa.Connection | sa.Engine) -> str:
    """The transaction table."""
    layout = layout_of(bind)
    return qualify(layout.schema, layout.transaction_table())
