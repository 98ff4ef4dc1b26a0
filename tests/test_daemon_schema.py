"""The job tables: migrations and models agree, and the revision downgrades cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from auditd import migrate
from auditd.models import Base


def test_migrated_schema_matches_the_models_including_the_job_tables(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": migrate.VERSION_TABLE, "compare_type": True}
        )
        differences = compare_metadata(context, Base.metadata)
        tables = set(sa.inspect(connection).get_table_names())

    assert differences == []
    assert {"audittrail_job_runs", "audittrail_job_state"} <= tables


def test_the_job_tables_revision_downgrades_and_upgrades_again(engine: sa.Engine) -> None:
    migrate.downgrade(engine, "0001")
    with engine.connect() as connection:
        assert not sa.inspect(connection).has_table("audittrail_job_runs")

    assert migrate.upgrade(engine) == migrate.head_revision()
