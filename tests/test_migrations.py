"""Migrations build exactly the models' schema and can be undone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from auditd import api, capture, db, migrate, registry
from auditd.capture.attribution import audit_context, session_factory
from auditd.config import DatabaseSettings
from auditd.errors import ConfigError, SchemaMismatchError
from auditd.models import Base, Session, SessionVersion
from auditd.models.namespace import (
    AUDIT_SCHEMA,
    LEGACY,
    Layout,
    audit_schema,
    current_layout,
    legacy_layout,
    qualify,
)


def _models_as_placed(connection: sa.Connection) -> sa.MetaData:
    """The models' metadata with the audit schema as this connection's engine
    translates it (Alembic's comparison does not apply the translation)."""
    placed = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    schema = audit_schema(connection)
    for table in Base.metadata.tables.values():
        table.to_metadata(placed, schema=schema if table.schema == AUDIT_SCHEMA else table.schema)
    return placed


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        schema = audit_schema(connection)
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_schemas": schema is not None,
                "include_name": lambda name, kind, _parent: (
                    kind != "schema" or name in (None, schema)
                ),
                **migrate.version_table_options(connection),
            },
        )
        return list(compare_metadata(context, _models_as_placed(connection)))


def test_upgrade_head_matches_models_exactly(empty_database_url: str) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    assert migrate.upgrade(engine) == migrate.head_revision()
    assert _differences(engine) == []
    engine.dispose()


def test_upgrade_installs_complete_capture(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        assert capture.verify(connection) == []
        tables = {spec.table for spec in registry.load(connection)}
    assert tables == {"events", "tracks", "speaker", "sessions", "speakers_sessions"}


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(
    empty_database_url: str,
) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    migrate.upgrade(engine)
    assert migrate.downgrade(engine, "base") is None
    with engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) <= {migrate.VERSION_TABLE}
        if connection.dialect.name == "postgresql":
            functions = connection.execute(
                sa.text("SELECT count(*) FROM pg_proc WHERE proname LIKE :prefix"),
                {"prefix": "audittrail%"},
            ).scalar_one()
            assert functions == 0
    migrate.upgrade(engine)
    assert _differences(engine) == []
    engine.dispose()


def test_writes_that_publish_a_context_go_on_after_a_downgrade_below_least_privilege(
    empty_database_url: str,
) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    migrate.upgrade(engine)
    migrate.downgrade(engine, "0011")
    with audit_context(actor="alice", origin="api"), session_factory(engine).begin() as session:
        session.add(Session(title="After a downgrade", state="pending"))
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(f"SELECT actor, origin FROM {qualify(*_transaction_table(connection))}")
        ).all()
    engine.dispose()
    # PostgreSQL no longer has the key that vouches for a claimed context;
    # SQLite never checks one.
    expected = ("postgres", "sql") if engine.dialect.name == "postgresql" else ("alice", "api")
    assert [tuple(row) for row in rows] == [expected]


def _transaction_table(connection: sa.Connection) -> tuple[str | None, str]:
    layout = current_layout(connection)
    return layout.schema, layout.transaction_table()


def test_require_head_refuses_an_empty_database(empty_database_url: str) -> None:
    import pytest

    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    with pytest.raises(SchemaMismatchError, match="audittrail migrate"):
        migrate.require_head(engine)
    engine.dispose()


def _version_indexes(engine: sa.Engine, layout: Layout = LEGACY) -> set[str]:
    with engine.connect() as connection:
        indexes = sa.inspect(connection).get_indexes(
            layout.version_table("sessions"), schema=layout.schema
        )
        return {str(index["name"]) for index in indexes}


def _head_layout(engine: sa.Engine) -> Layout:
    with engine.connect() as connection:
        return current_layout(connection)


def test_lean_index_revision_round_trips_on_a_database_with_history(
    empty_database_url: str,
) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    migrate.upgrade(engine, "0003")
    assert "ix_sessions_version_pk_validity" in _version_indexes(engine)
    with db.write_transaction(engine) as connection:
        connection.exec_driver_sql(
            "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked)"
            " VALUES (1, 'Talk', 'pending', false, false)"
        )
    migrate.upgrade(engine)
    head = _head_layout(engine)
    assert _version_indexes(engine, head) == {
        "ix_audittrail_sessions_version_transaction_id",
        "ix_audittrail_sessions_version_predecessor",
    }
    with engine.connect() as connection:
        assert capture.verify(connection) == []
    with db.write_transaction(engine) as connection:
        connection.exec_driver_sql("UPDATE sessions SET title = 'Renamed' WHERE id = 1")
    with engine.connect() as connection:
        chain = connection.execute(
            sa.select(
                SessionVersion.title,
                SessionVersion.operation_type,
                SessionVersion.end_transaction_id.is_(None),
            ).order_by(SessionVersion.transaction_id)
        ).all()
    assert [tuple(row) for row in chain] == [("Talk", 0, False), ("Renamed", 1, True)]
    migrate.downgrade(engine, "0003")
    assert {
        "ix_sessions_version_pk_validity",
        "ix_sessions_version_end_transaction_id",
        "ix_sessions_version_event_id",
    } <= _version_indexes(engine)
    engine.dispose()


def _legacy_history(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    """History and stamps as revision 0009 keeps them (the legacy layout)."""
    with engine.connect() as connection:
        return {
            "versions": [
                tuple(row)
                for row in connection.exec_driver_sql(
                    "SELECT id, title, transaction_id, end_transaction_id, operation_type"
                    " FROM sessions_version ORDER BY id, transaction_id"
                )
            ],
            "transactions": [
                tuple(row)
                for row in connection.exec_driver_sql(
                    'SELECT id, issued_at, actor, origin FROM "transaction" ORDER BY id'
                )
            ],
            "stamps": [
                tuple(row)
                for row in connection.exec_driver_sql(
                    "SELECT id, last_modified_at FROM sessions ORDER BY id"
                )
            ],
        }


def _history_at_head(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        layout = current_layout(connection)
        return {
            "versions": [
                tuple(row)
                for row in connection.exec_driver_sql(
                    "SELECT id, title, transaction_id, end_transaction_id, operation_type"
                    f" FROM {qualify(layout.schema, layout.version_table('sessions'))}"
                    " ORDER BY id, transaction_id"
                )
            ],
            "transactions": [
                tuple(row)
                for row in connection.exec_driver_sql(
                    "SELECT id, issued_at, actor, origin"
                    f" FROM {qualify(layout.schema, layout.transaction_table())} ORDER BY id"
                )
            ],
            "stamps": [
                tuple(row)
                for row in connection.exec_driver_sql(
                    "SELECT id, last_modified_at FROM sessions ORDER BY id"
                )
            ],
        }


def _raw_writes(engine: sa.Engine, *statements: str) -> None:
    for statement in statements:
        with db.write_transaction(engine) as connection:
            connection.exec_driver_sql(statement)


def test_a_database_with_history_moves_into_the_namespace_and_back(
    empty_database_url: str,
) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    migrate.upgrade(engine, "0009")
    _raw_writes(
        engine,
        "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked)"
        " VALUES (1, 'Talk', 'pending', false, false), (2, 'Other', 'pending', false, false)",
        "UPDATE sessions SET title = 'Renamed' WHERE id = 1",
    )
    before = _legacy_history(engine)
    assert len(before["versions"]) == 3 and len(before["transactions"]) == 2

    migrate.upgrade(engine)

    with engine.connect() as connection:
        assert capture.verify(connection) == []
        names = set(sa.inspect(connection).get_table_names())
    assert _history_at_head(engine) == before
    if engine.dialect.name == "postgresql":
        assert not names & {"transaction", "sessions_version", "audittrail_capture"}
    else:
        assert not names & {"transaction", "sessions_version"}
    # Continuum's read side navigates the moved history.
    with session_factory(engine)() as session:
        first, second = session.get_one(Session, 1).versions.all()
        assert second.changeset["title"] == ["Talk", "Renamed"]
        assert second.previous is first and first.next is second
        assert second.transaction.origin == "sql"
    # Capture goes on in the new place, closing the moved versions.
    _raw_writes(engine, "UPDATE sessions SET title = 'Again' WHERE id = 1")
    moved = _history_at_head(engine)
    assert len(moved["versions"]) == 4
    assert [v[3] is None for v in moved["versions"] if v[0] == 1] == [False, False, True]

    migrate.downgrade(engine, "0009")

    assert migrate.current_revision(engine) == "0009"
    assert _legacy_history(engine) == moved
    with engine.connect() as connection, legacy_layout(connection):
        assert capture.verify(connection) == []
        if connection.dialect.name == "postgresql":
            assert "audittrail" not in sa.inspect(connection).get_schema_names()
    _raw_writes(engine, "UPDATE sessions SET title = 'Back' WHERE id = 2")
    back = _legacy_history(engine)
    assert [v[1] for v in back["versions"] if v[0] == 2] == ["Other", "Back"]
    assert migrate.upgrade(engine) == migrate.head_revision()
    assert _history_at_head(engine) == back
    engine.dispose()


def test_our_revision_kept_in_alembic_version_by_the_first_builds_is_found_and_moved(
    empty_database_url: str,
) -> None:
    engine = db.create_engine(DatabaseSettings(url=empty_database_url))
    migrate.upgrade(engine, "0009")
    with db.write_transaction(engine) as connection:
        schema = audit_schema(connection)
        if schema is not None:  # where revision 0009 kept it: the default schema
            connection.exec_driver_sql(
                f"ALTER TABLE {qualify(schema, migrate.VERSION_TABLE)} SET SCHEMA public"
            )
        connection.exec_driver_sql(f"ALTER TABLE {migrate.VERSION_TABLE} RENAME TO alembic_version")
    assert migrate.current_revision(engine) == "0009"
    assert migrate.upgrade(engine) == migrate.head_revision()
    with engine.connect() as connection:
        assert not sa.inspect(connection).has_table("alembic_version")
    engine.dispose()


@pytest.mark.postgresql_only
def test_a_configured_audit_schema_holds_every_audit_object(empty_database_url: str) -> None:
    settings = DatabaseSettings(url=empty_database_url, audit_schema="audit_elsewhere")
    engine = db.create_engine(settings)
    migrate.upgrade(engine)
    with db.write_transaction(engine) as connection:
        connection.exec_driver_sql(
            "INSERT INTO sessions (id, title, state, is_mail_sent, is_locked)"
            " VALUES (1, 'Talk', 'pending', false, false)"
        )
    with engine.connect() as connection:
        assert capture.verify(connection) == []
        inspector = sa.inspect(connection)
        assert "audittrail" not in inspector.get_schema_names()
        assert {"audittrail_transaction", "audittrail_sessions_version"} <= set(
            inspector.get_table_names(schema="audit_elsewhere")
        )
        routines = connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'audit_elsewhere' AND p.proname LIKE 'audittrail%'"
            )
        )
    assert routines and routines > 0
    assert [change.operation for change in api.history(engine, "session", 1)] == ["insert"]
    engine.dispose()


@pytest.mark.parametrize("name", ["Audit", "public", "pg_audit", "a-b", "x" * 64])
def test_an_audit_schema_that_is_not_a_plain_identifier_of_its_own_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"database\.audit_schema"):
        DatabaseSettings(url="postgresql://audit@db/openevent", audit_schema=name)
