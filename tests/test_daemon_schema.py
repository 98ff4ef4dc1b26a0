"""The job tables' revision downgrades and upgrades cleanly (that migrations and
models agree is tests/test_migrations.py)."""

from __future__ import annotations

import sqlalchemy as sa

from auditd import migrate


def test_the_job_tables_revision_downgrades_and_upgrades_again(engine: sa.Engine) -> None:
    migrate.downgrade(engine, "0001")
    with engine.connect() as connection:
        assert not sa.inspect(connection).has_table("audittrail_job_runs")

    assert migrate.upgrade(engine) == migrate.head_revision()
