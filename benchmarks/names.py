"""Audit table names in the benchmarks' raw SQL.

The statements write ``@transaction@`` and ``@<table>_version@``;
:func:`placed` replaces them with the names, quoted and qualified by the
audit schema, that the engine at hand uses (see auditd.models.namespace).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from auditd.models.namespace import current_layout, qualify

_TOKEN = re.compile(r"@(transaction|(\w+)_version)@")


def placed(connection: sa.Connection, statement: str) -> str:
    """``statement`` with its audit table tokens replaced by real names."""
    layout = current_layout(connection)

    def name(match: re.Match[str]) -> str:
        table = match.group(2)
        real = layout.transaction_table() if table is None else layout.version_table(table)
        return qualify(layout.schema, real)

    return _TOKEN.sub(name, statement)
