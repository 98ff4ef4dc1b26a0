"""Least privilege on PostgreSQL, tried as each role of the layout would.

The application's role writes its tables and nothing else: every attempt to
reach history directly fails, and a context it forges with ``set_config``
is recorded as origin ``sql`` under its real role. The reader reads, the
daemon runs its jobs, and capture keeps running as the audit owner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from privileges_support import Roles, audittrail, login_roles  # type: ignore[import-not-found]
from test_history_support import wait_for_horizon
from test_ledger_support import last_transaction_id

from auditd import capture, db, migrate
from auditd.capture.attribution import audit_context, session_factory
from auditd.config import DatabaseSettings
from auditd.daemon.startup import check_privileges
from auditd.errors import DatabaseAccessError
from auditd.ledger import seal, verify_integrity
from auditd.ledger.prune import prune
from auditd.models import Session
from auditd.timestamps import utcnow

pytestmark = pytest.mark.postgresql_only

# The audit objects in the default audit schema.
VERSIONS = "audittrail.audittrail_sessions_version"
TRANSACTIONS = "audittrail.audittrail_transaction"
SET_CONTEXT = "audittrail.audittrail_set_context"


@pytest.fixture
def roles(database_url: str) -> Iterator[Roles]:
    yield from login_roles(database_url)


@pytest.fixture
def admin(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def _transactions(admin: sa.Engine) -> list[tuple[object, ...]]:
    with admin.connect() as connection:
        rows = connection.execute(
            sa.text(
                f"SELECT actor, origin, reason, db_role, client_addr FROM {TRANSACTIONS}"
                " ORDER BY issued_at, id"
            )
        )
        return [tuple(row) for row in rows]


def _session_versions(admin: sa.Engine, session_id: int) -> list[tuple[object, ...]]:
    with admin.connect() as connection:
        rows = connection.execute(
            sa.text(
                f"SELECT title, operation_type, end_transaction_id IS NULL FROM {VERSIONS}"
                " WHERE id = :id ORDER BY transaction_id"
            ),
            {"id": session_id},
        )
        return [tuple(row) for row in rows]


def _add_session(admin: sa.Engine, title: str = "Talk") -> int:
    with db.write_transaction(admin) as connection:
        return int(
            connection.execute(
                sa.text(
                    "INSERT INTO sessions (title, state, is_mail_sent, is_locked)"
                    " VALUES (:t, 'pending', false, false) RETURNING id"
                ),
                {"t": title},
            ).scalar_one()
        )


def test_the_application_role_writes_through_the_orm_and_raw_sql_and_both_are_versioned(
    roles: Roles, admin: sa.Engine
) -> None:
    app = db.create_engine(DatabaseSettings(url=roles.url(roles.app)))
    with (
        audit_context(actor="alice", origin="api", reason="new talk"),
        session_factory(app).begin() as session,
    ):
        talk = Session(title="Talk", state="pending")
        session.add(talk)
    with app.begin() as connection:
        connection.execute(
            sa.text("UPDATE sessions SET title = 'Raw' WHERE id = :id"), {"id": talk.id}
        )
    app.dispose()

    assert _session_versions(admin, talk.id) == [("Talk", 0, False), ("Raw", 1, True)]
    assert _transactions(admin) == [
        ("alice", "api", "new talk", roles.app, "127.0.0.1"),
        (roles.app, "sql", None, roles.app, "127.0.0.1"),
    ]


@pytest.mark.parametrize(
    "statement",
    [
        f"SELECT * FROM {VERSIONS}",
        f"UPDATE {VERSIONS} SET title = 'FORGED'",
        f"DELETE FROM {VERSIONS}",
        f"TRUNCATE {VERSIONS}",
        f"INSERT INTO {VERSIONS} (id, title, state, transaction_id, operation_type)"
        " VALUES (1, 'FORGED', 'pending', 1, 0)",
        f"SELECT * FROM {TRANSACTIONS}",
        f"UPDATE {TRANSACTIONS} SET actor = 'alice'",
        f"DELETE FROM {TRANSACTIONS}",
        f"INSERT INTO {TRANSACTIONS} (id, issued_at, origin) VALUES (1, now(), 'cli')",
        "SELECT * FROM audittrail.audittrail_context_key",
    ],
)
def test_the_application_role_has_no_access_to_history(
    roles: Roles, admin: sa.Engine, statement: str
) -> None:
    _add_session(admin)
    before = _transactions(admin)
    app = roles.engine(roles.app)
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), app.begin() as c:
        c.exec_driver_sql(statement)
    app.dispose()
    assert _transactions(admin) == before


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("SELECT * FROM audittrail.audittrail_tx()", "permission denied for function"),
        (
            "SELECT audittrail.audittrail_context_mac(pg_current_xact_id()::text::bigint,"
            " 'alice', 'cli', NULL, NULL)",
            "permission denied for function",
        ),
        ("SELECT audittrail.audittrail_sessions_capture()", "permission denied for function"),
        ("ALTER TABLE sessions DISABLE TRIGGER ALL", "must be owner"),
        ("ALTER TABLE sessions DISABLE TRIGGER audittrail_capture_update", "must be owner"),
        ("SET session_replication_role = replica", "permission denied to set parameter"),
        ("DROP TRIGGER audittrail_capture_update ON sessions", "must be owner"),
    ],
)
def test_the_application_role_cannot_bypass_capture(
    roles: Roles, statement: str, refusal: str
) -> None:
    app = roles.engine(roles.app)
    with pytest.raises(sa.exc.ProgrammingError, match=refusal), app.begin() as connection:
        connection.exec_driver_sql(statement)
    app.dispose()


def test_a_context_forged_with_set_config_is_recorded_as_sql_under_the_real_role(
    roles: Roles, admin: sa.Engine
) -> None:
    talk = _add_session(admin)
    app = roles.engine(roles.app)
    with app.begin() as connection:
        connection.execute(
            sa.text(
                "SELECT set_config('audittrail.actor', 'alice', true),"
                " set_config('audittrail.origin', 'cli', true),"
                " set_config('audittrail.reason', 'legit fix', true),"
                " set_config('audittrail.context_mac', repeat('0', 64), true)"
            )
        )
        connection.execute(
            sa.text("UPDATE sessions SET title = 'Forged' WHERE id = :id"), {"id": talk}
        )
    app.dispose()
    assert _transactions(admin)[-1] == (roles.app, "sql", None, roles.app, "127.0.0.1")


def test_a_signed_context_of_another_transaction_is_not_trusted(
    roles: Roles, admin: sa.Engine
) -> None:
    talk = _add_session(admin)
    app = roles.engine(roles.app)
    with app.connect() as connection:
        with connection.begin():
            connection.execute(sa.text(f"SELECT {SET_CONTEXT}('alice', 'cli', 'ok', NULL)"))
            signed = {
                name: connection.scalar(sa.text(f"SELECT current_setting('audittrail.{name}')"))
                for name in ("actor", "origin", "reason", "context_mac")
            }
        with connection.begin():  # replayed in the next transaction
            for name, value in signed.items():
                connection.execute(
                    sa.text("SELECT set_config(:n, :v, true)"),
                    {"n": f"audittrail.{name}", "v": value},
                )
            connection.execute(
                sa.text("UPDATE sessions SET title = 'x' WHERE id = :id"), {"id": talk}
            )
    app.dispose()
    assert _transactions(admin)[-1][:3] == (roles.app, "sql", None)


def test_a_forged_transaction_cache_still_records_the_change_under_its_transaction(
    roles: Roles, admin: sa.Engine
) -> None:
    talk = _add_session(admin)
    app = roles.engine(roles.app)
    with app.begin() as connection:
        connection.execute(
            sa.text(
                "SELECT set_config('audittrail.tx', pg_current_xact_id()::text"
                " || '|2001-01-01T00:00:00.000000+00', true)"
            )
        )
        connection.execute(
            sa.text("UPDATE sessions SET title = 'Hidden?' WHERE id = :id"), {"id": talk}
        )
    app.dispose()
    with admin.connect() as connection:
        orphans = connection.scalar(
            sa.text(
                f"SELECT count(*) FROM {VERSIONS} v LEFT JOIN {TRANSACTIONS} t"
                " ON t.id = v.transaction_id WHERE t.id IS NULL"
            )
        )
    assert orphans == 0
    assert _transactions(admin)[-1][:2] == (roles.app, "sql")


def test_only_granted_roles_may_publish_a_context(roles: Roles) -> None:
    reader = roles.engine(roles.reader)
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), reader.begin() as c:
        c.execute(sa.text(f"SELECT {SET_CONTEXT}('alice', 'cli', NULL, NULL)"))
    reader.dispose()


def test_the_reader_runs_every_history_command_and_writes_nothing(
    roles: Roles, admin: sa.Engine
) -> None:
    talk = _add_session(admin)
    with db.write_transaction(admin) as connection:
        connection.execute(
            sa.text("UPDATE sessions SET title = 'Renamed' WHERE id = :id"), {"id": talk}
        )
    first = _transactions(admin)
    url = roles.url(roles.reader)
    commands = [
        ["history", "session", str(talk)],
        ["show", "session", str(talk)],
        ["changes", "--after-transaction", "0"],
        ["who-changed", "session", str(talk), "title"],
        ["report", "--since", "2000-01-01T00:00Z", "--until", "2100-01-01T00:00Z"],
        ["history", "session", str(talk), "--format", "json"],
        ["jobs"],
        ["digest"],
        ["verify", "--integrity"],
    ]
    with admin.connect() as connection:
        last = connection.scalar(sa.text(f"SELECT max(id) FROM {TRANSACTIONS}"))
    # A seal covers finished transactions only: one left open elsewhere on the
    # server (a concurrent test, say) would leave `digest` without a block.
    wait_for_horizon(admin, int(last))
    assert audittrail(roles.url(roles.daemon), "seal").returncode == 0
    for command in commands:
        result = audittrail(url, *command)
        assert result.returncode == 0, (command, result.stderr)
    shown = audittrail(url, "history", "session", str(talk), "--format", "json").stdout
    assert '"db_role": "postgres"' in shown

    with admin.connect() as connection:
        oldest = connection.scalar(sa.text(f"SELECT min(id) FROM {TRANSACTIONS}"))
    refused = audittrail(url, "revert", "session", str(talk), "--to", str(oldest))
    assert refused.returncode == 3
    assert refused.stderr.startswith("error: permission denied") and refused.stderr.count("\n") == 1
    reader = roles.engine(roles.reader)
    for statement in ("UPDATE sessions SET title = 'no'", "DELETE FROM sessions"):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), reader.begin() as c:
            c.exec_driver_sql(statement)
    reader.dispose()
    assert _transactions(admin) == first


def test_the_daemon_role_passes_the_start_checks_and_runs_its_jobs(
    roles: Roles, admin: sa.Engine
) -> None:
    talk = _add_session(admin)
    with db.write_transaction(admin) as connection:
        connection.execute(
            sa.text("UPDATE sessions SET last_modified_at = '2001-01-01Z' WHERE id = :id"),
            {"id": talk},
        )
    url = roles.url(roles.daemon)
    daemon = db.create_engine(DatabaseSettings(url=url))
    check_privileges(daemon, seal=True, prune=True)
    daemon.dispose()
    assert audittrail(url, "verify").returncode == 1  # the stamp edited by hand
    for command in (
        ["reconcile"],
        ["reconcile", "--full"],
        ["verify"],
        ["seal"],
        ["verify", "--integrity"],
    ):
        result = audittrail(url, *command)
        assert result.returncode == 0, (command, result.stdout, result.stderr)


def test_a_daemon_role_with_a_tight_connection_limit_seals_and_verifies_on_one_reader(
    roles: Roles, admin: sa.Engine
) -> None:
    """Blocks are read on extra connections unless ``ledger.readers`` is 1;
    a seal then holds three (the run's record, the round's snapshot, the
    appends)."""
    talk = _add_session(admin)
    for title in ("Renamed", "Renamed again"):
        with db.write_transaction(admin) as connection:
            connection.execute(
                sa.text("UPDATE sessions SET title = :t WHERE id = :id"), {"t": title, "id": talk}
            )
    with admin.connect() as connection:
        last = int(connection.scalar(sa.text(f"SELECT max(id) FROM {TRANSACTIONS}")))
        connection.execute(sa.text(f"ALTER ROLE {roles.daemon} CONNECTION LIMIT 3"))
        connection.commit()
    wait_for_horizon(admin, last)
    url = roles.url(roles.daemon)
    small_blocks = {"AUDITD_LEDGER_BLOCK_SIZE": "1"}
    refused = audittrail(url, "seal", environ={**small_blocks, "AUDITD_LEDGER_READERS": "3"})
    assert refused.returncode != 0
    assert "too many connections" in refused.stderr.splitlines()[-1]  # after the job's log line
    for command in (["seal"], ["verify", "--integrity"]):
        result = audittrail(url, *command, environ={**small_blocks, "AUDITD_LEDGER_READERS": "1"})
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert "0 transactions not sealed yet" in result.stdout


def test_capture_functions_run_as_the_audit_owner_and_stay_its_after_a_reinstall(
    roles: Roles, admin: sa.Engine
) -> None:
    migrate.downgrade(admin, "0011")  # drops and ...
    migrate.upgrade(admin)  # ... re-creates the shared functions, as the superuser
    with admin.connect() as connection:
        owners = (
            connection.execute(
                sa.text(
                    "SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc"
                    " WHERE proname LIKE 'audittrail%'"
                )
            )
            .scalars()
            .all()
        )
        definers = (
            connection.execute(
                sa.text(
                    "SELECT proname FROM pg_proc WHERE proname LIKE 'audittrail%' AND prosecdef"
                    " ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        assert capture.verify(connection) == []
    assert owners == [roles.owner]
    assert "audittrail_tx" in definers and "audittrail_sessions_capture" in definers
    # The functions were dropped, and their grants with them: laying the roles
    # out again restores the grants and changes no owner.
    again = audittrail(
        roles.database_url,
        "roles",
        "--app-role",
        roles.app,
        "--reader-role",
        roles.reader,
        "--daemon-role",
        roles.daemon,
        "--owner-role",
        roles.owner,
    )
    assert again.returncode == 0, again.stderr
    assert "OWNER TO" not in again.stdout and "CREATE ROLE" not in again.stdout
    app = db.create_engine(DatabaseSettings(url=roles.url(roles.app)))
    with audit_context(actor="bob", origin="api"), session_factory(app).begin() as session:
        session.add(Session(title="After", state="pending"))
    app.dispose()
    assert _transactions(admin)[-1][:2] == ("bob", "api")


def test_the_retention_setting_gives_nothing_to_a_role_without_the_owners_rights(
    roles: Roles, admin: sa.Engine
) -> None:
    _add_session(admin)
    with admin.begin() as connection:  # a grant made by mistake
        connection.exec_driver_sql(f"GRANT SELECT, DELETE ON {VERSIONS} TO {roles.daemon}")
    daemon = roles.engine(roles.daemon)
    with (
        pytest.raises(sa.exc.ProgrammingError, match="history is append-only"),
        daemon.begin() as connection,
    ):
        connection.execute(
            sa.text("SELECT set_config('audittrail.retention', pg_current_xact_id()::text, true)")
        )
        connection.exec_driver_sql(f"DELETE FROM {VERSIONS}")
    daemon.dispose()


RETENTION = "audittrail.audittrail_retention_delete"


def test_the_daemon_role_prunes_through_the_retention_function_and_the_ledger_verifies(
    roles: Roles, admin: sa.Engine
) -> None:
    talk = _add_session(admin)
    for title in ("Second", "Third"):
        with db.write_transaction(admin) as connection:
            connection.execute(
                sa.text("UPDATE sessions SET title = :t WHERE id = :i"), {"t": title, "i": talk}
            )
    wait_for_horizon(admin, last_transaction_id(admin))
    daemon = db.create_engine(DatabaseSettings(url=roles.url(roles.daemon)))
    assert seal(daemon, 100).blocks
    outcome = prune(daemon, 30, 100, now=utcnow() + timedelta(days=40))
    daemon.dispose()
    assert outcome.versions == 2  # the two closed versions; the current one stays
    with admin.connect() as connection:
        left = connection.scalars(
            sa.text(f"SELECT title FROM {VERSIONS} WHERE id = :i"), {"i": talk}
        ).all()
    assert left == ["Third"]
    report = verify_integrity(db.create_engine(DatabaseSettings(url=roles.url(roles.reader))))
    assert report.intact, [str(problem) for problem in report.problems]
    assert report.pruned > 0


def test_the_application_role_may_not_call_the_retention_function(roles: Roles) -> None:
    app = roles.engine(roles.app)
    with (
        pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
        app.begin() as connection,
    ):
        connection.execute(sa.text(f"SELECT {RETENTION}('audittrail_sessions_version', '[]')"))
    app.dispose()


def test_the_retention_function_removes_old_history_only_never_a_current_version(
    roles: Roles, admin: sa.Engine
) -> None:
    talk = _add_session(admin)
    daemon = roles.engine(roles.daemon)
    with daemon.begin() as connection:
        for table in ("sessions", "audittrail_ledger_block", "audittrail_capture"):
            with (
                pytest.raises(sa.exc.DataError, match=f"not a history table: {table}"),
                connection.begin_nested(),
            ):
                connection.execute(sa.text(f"SELECT {RETENTION}(:t, '[]')"), {"t": table})
        (current,) = connection.execute(
            sa.text(f"SELECT id, transaction_id FROM {VERSIONS} WHERE id = :i"), {"i": talk}
        ).mappings()
        removed = connection.scalar(
            sa.text(f"SELECT {RETENTION}('audittrail_sessions_version', CAST(:k AS jsonb))"),
            {"k": json.dumps([dict(current)])},
        )
    daemon.dispose()
    assert removed == 0
    with admin.connect() as connection:
        assert (
            connection.scalar(
                sa.text(f"SELECT count(*) FROM {VERSIONS} WHERE id = :i"), {"i": talk}
            )
            == 1
        )


def test_the_start_checks_name_the_retention_function_when_the_prune_job_lacks_it(
    roles: Roles, admin: sa.Engine
) -> None:
    with admin.begin() as connection:
        connection.exec_driver_sql(f"REVOKE EXECUTE ON FUNCTION {RETENTION} FROM {roles.daemon}")
    daemon = db.create_engine(DatabaseSettings(url=roles.url(roles.daemon)))
    check_privileges(daemon, seal=True)  # the prune job is off by default: nothing missing
    with pytest.raises(DatabaseAccessError, match=r"EXECUTE on .*audittrail_retention_delete"):
        check_privileges(daemon, seal=True, prune=True)
    daemon.dispose()
