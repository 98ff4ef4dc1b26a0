"""``audittrail roles`` as an operator runs it: dry run, idempotence, one-line refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from privileges_support import Roles, audittrail, login_roles  # type: ignore[import-not-found]

postgresql_only = pytest.mark.postgresql_only


@pytest.fixture
def roles(database_url: str) -> Iterator[Roles]:
    yield from login_roles(database_url, laid_out=False)


def _arguments(roles: Roles) -> list[str]:
    return [
        "roles",
        "--app-role",
        roles.app,
        "--reader-role",
        roles.reader,
        "--daemon-role",
        roles.daemon,
        "--owner-role",
        roles.owner,
    ]


def _catalog(database_url: str, owner: str) -> tuple[object, ...]:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        state = (
            connection.scalar(
                sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :o"), {"o": owner}
            ),
            connection.scalar(
                sa.text(
                    "SELECT relowner::regrole::text FROM pg_class"
                    " WHERE oid = 'audittrail.audittrail_sessions_version'::regclass"
                )
            ),
            connection.scalar(
                sa.text("SELECT relacl::text FROM pg_class WHERE oid = 'sessions'::regclass")
            ),
        )
    engine.dispose()
    return state


def assert_one_line_error(result: object, code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0]


@postgresql_only
def test_a_dry_run_prints_the_sql_and_changes_nothing(roles: Roles) -> None:
    before = _catalog(roles.database_url, roles.owner)
    result = audittrail(roles.database_url, *_arguments(roles), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"CREATE ROLE {roles.owner} NOLOGIN;" in result.stdout.replace('"', "")
    assert "(dry run, nothing changed)" in result.stdout
    assert _catalog(roles.database_url, roles.owner) == before


@postgresql_only
def test_laying_the_roles_out_twice_changes_no_owner_the_second_time(roles: Roles) -> None:
    first = audittrail(roles.database_url, *_arguments(roles))
    assert first.returncode == 0, first.stderr
    assert "OWNER TO" in first.stdout
    laid_out = _catalog(roles.database_url, roles.owner)
    second = audittrail(roles.database_url, *_arguments(roles))
    assert second.returncode == 0, second.stderr
    assert "OWNER TO" not in second.stdout and "CREATE ROLE" not in second.stdout
    assert _catalog(roles.database_url, roles.owner) == laid_out
    assert laid_out[:2] == (1, roles.owner)


@postgresql_only
def test_a_missing_role_is_named_in_one_line_and_nothing_changes(roles: Roles) -> None:
    before = _catalog(roles.database_url, roles.owner)
    result = audittrail(
        roles.database_url, "roles", "--app-role", "nobody_here_x", "--reader-role", roles.reader
    )
    assert_one_line_error(result, 3, "role nobody_here_x does not exist")
    assert _catalog(roles.database_url, roles.owner) == before


@postgresql_only
def test_a_role_that_is_not_the_superuser_or_database_owner_is_refused(roles: Roles) -> None:
    result = audittrail(roles.url(roles.app), *_arguments(roles))
    assert_one_line_error(result, 3, "must run as a superuser or the database owner")


@postgresql_only
@pytest.mark.parametrize(
    ("argument", "fragment"),
    [("Robert'); DROP TABLE sessions;--", "is not a role name"), ("pg_monitor", "reserved")],
)
def test_a_role_name_that_is_not_a_plain_identifier_is_refused(
    roles: Roles, argument: str, fragment: str
) -> None:
    result = audittrail(
        roles.database_url, "roles", "--app-role", argument, "--reader-role", roles.reader
    )
    assert_one_line_error(result, 2, fragment)


@postgresql_only
def test_one_role_in_two_parts_is_refused(roles: Roles) -> None:
    result = audittrail(
        roles.database_url, "roles", "--app-role", roles.app, "--reader-role", roles.app
    )
    assert_one_line_error(result, 2, "more than one part")


@pytest.mark.sqlite_only
def test_sqlite_has_no_roles(database_url: str, tmp_path: Path) -> None:
    result = audittrail(database_url, "roles", "--app-role", "app", "--reader-role", "reader")
    assert_one_line_error(result, 2, "PostgreSQL only")


@postgresql_only
def test_a_member_of_the_owner_role_that_does_not_inherit_it_is_still_refused(
    roles: Roles,
) -> None:
    # NOINHERIT does not stop SET ROLE: such a member could still disable triggers.
    engine = sa.create_engine(roles.database_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {roles.owner} NOLOGIN")
        connection.exec_driver_sql(f"ALTER ROLE {roles.app} NOINHERIT")
        connection.exec_driver_sql(f"GRANT {roles.owner} TO {roles.app}")
    engine.dispose()
    result = audittrail(roles.database_url, *_arguments(roles))
    assert_one_line_error(result, 3, f"role {roles.app} has the owner role's rights")
