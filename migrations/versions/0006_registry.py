"""The registry: canonical entries with column kinds, and the adoption table.

Every registered table's entry is rebuilt in the registry's canonical form
(key, versioned columns with the kind of value each holds, stamp column,
parent stamps, how history names its rows) from the catalog, keeping the
columns its triggers captured, and its triggers are regenerated with
capture generator 5, whose markers hash that canonical form. The adoption
bookkeeping table, which ``audittrail adopt`` used to create itself, is
created here (an adopted database keeps the one it has).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import json
from dataclasses import replace

import sqlalchemy as sa
from alembic import op

import auditd.timestamps
from auditd import capture, registry
from auditd.models.namespace import LEGACY, legacy_layout

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The trigger generator this revision installs, and the digest of the SQL it
# generates for the models' tables (tests/golden/capture/).
CAPTURE_GENERATOR = 5
CAPTURE_SQL_DIGEST = "74dd9fbd81b2f4d21c30ed075fe70bc7e009fbdf3d240b5479886bb7fbd64a0d"

ADOPTION = "audittrail_adoption"


def _registered_columns(connection: sa.Connection) -> dict[str, list[str]]:
    """Table -> the column names its registered entry captures, in either form
    (revision 0005 stored names, this one objects)."""
    rows = connection.execute(sa.text("SELECT table_name, spec FROM audittrail_capture"))
    captured = {}
    for table, text in rows:
        columns = json.loads(text)["columns"]
        captured[table] = [c if isinstance(c, str) else c["name"] for c in columns]
    return captured


def upgrade() -> None:
    connection = op.get_bind()
    if not sa.inspect(connection).has_table(ADOPTION):
        op.create_table(
            ADOPTION,
            sa.Column("table_name", sa.String(length=255), nullable=False),
            sa.Column("version_table", sa.String(length=255), nullable=False),
            sa.Column("added_stamp_column", sa.Boolean(), nullable=False),
            sa.Column("adopted_at", auditd.timestamps.UTCDateTime(), nullable=False),
            sa.Column("baseline_transaction_id", sa.BigInteger(), nullable=True),
            sa.Column("baseline_done_at", auditd.timestamps.UTCDateTime(), nullable=True),
            sa.Column("stamps_done_at", auditd.timestamps.UTCDateTime(), nullable=True),
            sa.PrimaryKeyConstraint("table_name", name=op.f("pk_audittrail_adoption")),
        )
    captured = _registered_columns(connection)
    entries = [
        # The triggers captured these columns; a column added to the live
        # table since is reported by verify, not silently captured into a
        # version table that lacks it.
        replace(entry, columns=tuple(c for c in entry.columns if c.name in captured[entry.table]))
        for entry in registry.from_catalog(connection, LEGACY)
        if entry.table in captured
    ]
    with legacy_layout(connection):
        capture.install(connection, entries)


def downgrade() -> None:
    # Revision 0005 reads the registry in its own form; the triggers of this
    # build stay (a build can only generate its own), and work on that schema.
    connection = op.get_bind()
    with legacy_layout(connection):
        entries = registry.load(connection)
    for entry in entries:
        spec = {
            "table": entry.table,
            "version_table": entry.version_table,
            "key": list(entry.key),
            "columns": list(entry.column_names),
            "stamp_column": entry.stamp_column,
            "text_compare": sorted(entry.text_compared),
            "parents": [vars(parent) for parent in entry.parents],
        }
        connection.execute(
            sa.text("UPDATE audittrail_capture SET spec = :spec WHERE table_name = :table"),
            {"spec": json.dumps(spec, sort_keys=True), "table": entry.table},
        )
    adopted = connection.scalar(sa.text(f"SELECT count(*) FROM {ADOPTION}"))
    if not adopted:
        op.drop_table(ADOPTION)
