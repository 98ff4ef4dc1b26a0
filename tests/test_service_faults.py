"""What ``serve`` does with mistakes and hostile environments: one line, the right exit code.

Every case runs the real ``audittrail`` program: misconfigurations through
``check-config``, at ``serve`` start and through SIGHUP (where the old
configuration stays in force); refused credentials and missing privileges;
read-only SQLite files and folders; another path to a database already
served; SIGTERM at any moment of the start-up.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import POSTGRES_ADMIN_URL
from test_daemon_support import NotifySocket, ServeProcess, job_runs, live_logging
from test_service import wait_until

pytestmark = pytest.mark.usefixtures(live_logging.__name__)

GOOD = "[jobs.sync]\ninterval_seconds = 1\n[jobs.reconcile]\nenabled = false\n"
GOOD += "[jobs.verify]\nenabled = false\n"


def run_audittrail(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("AUDITD_")}
    return subprocess.run(
        [sys.executable, "-m", "auditd", *args],
        env=environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(text: str) -> str:
    """The single ``error: …`` line a user mistake prints, and nothing else."""
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path)
    yield listener
    listener.close()


# --- misconfiguration: check-config, serve start and SIGHUP alike ----------------------


def _not_utf8(path: Path) -> None:
    path.write_bytes(b"[logging]\n# caf\xe9\nlevel = 'info'\n")


def _not_a_regular_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/zero")  # reading it would never end


def _too_large(path: Path) -> None:
    path.write_text("#" * (2 * 1024 * 1024))


def _never_fires(path: Path) -> None:
    path.write_text('[jobs.reconcile]\ncron = "0 3 30 2 *"\n')


def _missing_password_file(path: Path) -> None:
    path.write_text(
        '[database]\nurl = "postgresql://audit@db.invalid/oe"\n'
        f'password_file = "{path.parent / "no-such-password"}"\n'
    )


def _unknown_driver_option(path: Path) -> None:
    path.write_text('[database]\nurl = "postgresql://audit@db.invalid/oe?sslmode=bogus"\n')


MISTAKES: dict[str, tuple[Callable[[Path], None], str]] = {
    "not UTF-8": (_not_utf8, "is not UTF-8 text: byte 0xe9 at line 2"),
    "not a regular file": (_not_a_regular_file, "is not a regular file"),
    "too large": (_too_large, "is larger than 1024 KiB"),
    "cron never fires": (_never_fires, "it never fires: no month '2' has a day '30'"),
    "missing password file": (_missing_password_file, "cannot be read: No such file"),
    "unknown driver option": (_unknown_driver_option, 'invalid sslmode value: "bogus"'),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_check_config_refuses_a_mistake_with_one_line_and_exit_3(
    tmp_path: Path, mistake: str
) -> None:
    config = tmp_path / "audittrail.toml"
    make, expected = MISTAKES[mistake]
    make(config)

    result = run_audittrail("check-config", "--config", str(config))

    assert result.returncode == 3
    assert expected in one_error_line(result.stderr)
    assert result.stdout == ""


@pytest.mark.sqlite_only
@pytest.mark.parametrize("mistake", MISTAKES)
def test_serve_refuses_a_mistake_at_start_with_one_line_and_exit_3(
    tmp_path: Path, mistake: str, notify: NotifySocket
) -> None:
    config = tmp_path / "audittrail.toml"
    make, expected = MISTAKES[mistake]
    make(config)

    serve = ServeProcess(None, tmp_path / "state", notify=notify, args=["--config", str(config)])

    assert serve.wait(timeout=120) == 3
    assert expected in one_error_line("".join(serve.stderr))
    assert "READY=1" not in notify.assignments()


@pytest.mark.sqlite_only
def test_sighup_with_each_mistake_keeps_the_old_configuration_in_force(
    database_url: str, engine: sa.Engine, tmp_path: Path, notify: NotifySocket
) -> None:
    config = tmp_path / "audittrail.toml"
    good = f'[database]\nurl = "{database_url}"\n{GOOD}'
    config.write_text(good)
    serve = ServeProcess(
        None,
        tmp_path / "state",
        notify=notify,
        args_after=["--config", str(config)],
        settings={"AUDITD_SERVICE_SYNC_ON_CHANGE": "false"},
    )
    try:
        notify.wait_for("READY=1", timeout=60)
        for mistake, (make, expected) in MISTAKES.items():
            failures = len(
                [e for e in serve.events() if e["event"].startswith("configuration reload failed")]
            )
            make(config)
            serve.send(signal.SIGHUP)
            failed = wait_until(
                lambda n=failures: [
                    e
                    for e in serve.events()
                    if e["event"].startswith("configuration reload failed")
                ][n:],
                timeout=60,
                what=f"the reload with {mistake} refused",
            )
            assert expected in failed[0]["error"], mistake
            assert "\n" not in failed[0]["error"]
            config.unlink()
            config.write_text(good)
        runs = len(job_runs(engine, "sync"))
        wait_until(
            lambda: len(job_runs(engine, "sync")) >= runs + 2, timeout=60, what="sync still on 1 s"
        )
        assert serve.process.poll() is None
        serve.send(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
    finally:
        serve.stop()


# --- credentials and privileges (PostgreSQL) -----------------------------------------


class PasswordRefusingServer:
    """Speaks just enough of PostgreSQL's protocol to refuse every login the way
    a server does on a wrong password (the test server trusts every login, so
    it cannot refuse one): it declines SSL and GSS encryption, then answers the
    startup message with ``FATAL 28P01 password authentication failed``."""

    REFUSAL = 'password authentication failed for user "audit"'

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with client:
                self._refuse(client)

    def _refuse(self, client: socket.socket) -> None:
        while True:
            header = client.recv(8, socket.MSG_WAITALL)
            if len(header) < 8:
                return
            length, code = struct.unpack("!ii", header)
            client.recv(length - 8, socket.MSG_WAITALL)
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: not offered
                client.sendall(b"N")
                continue
            fields = [b"SFATAL", b"VFATAL", b"C28P01", b"M" + self.REFUSAL.encode()]
            body = b"".join(field + b"\0" for field in fields) + b"\0"
            client.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)
            return

    def close(self) -> None:
        self._server.close()


def test_a_wrong_password_is_one_line_and_exit_3_without_retrying(
    tmp_path: Path, notify: NotifySocket
) -> None:
    server = PasswordRefusingServer()
    try:
        url = f"postgresql://audit:wrong@127.0.0.1:{server.port}/openevent"
        serve = ServeProcess(url, tmp_path / "state", notify=notify)
        code = serve.wait(timeout=120)
    finally:
        server.close()

    assert code == 3
    assert PasswordRefusingServer.REFUSAL in one_error_line("".join(serve.stderr))
    assert not [e for e in serve.events() if e["event"] == "database unavailable, retrying"]
    assert "READY=1" not in notify.assignments()


@pytest.fixture
def admin() -> Iterator[sa.Engine]:
    engine = sa.create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    yield engine
    engine.dispose()


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"username": "audittrail_no_such_role"}, 'role "audittrail_no_such_role" does not exist'),
        ({"database": "audittrail_no_such_database"}, "does not exist"),
    ],
)
def test_refused_credentials_are_one_line_and_exit_3_without_retrying(
    database_url: str, tmp_path: Path, notify: NotifySocket, change: dict[str, str], expected: str
) -> None:
    url = sa.make_url(database_url).set(**change).render_as_string(hide_password=False)

    serve = ServeProcess(url, tmp_path / "state", notify=notify)

    assert serve.wait(timeout=120) == 3
    assert expected in one_error_line("".join(serve.stderr))
    assert not [e for e in serve.events() if e["event"] == "database unavailable, retrying"]
    assert "READY=1" not in notify.assignments()


@pytest.mark.postgresql_only
@pytest.mark.parametrize("grants", ["none", "read only"])
def test_a_role_without_the_privileges_it_needs_is_one_line_and_exit_3(
    database_url: str, admin: sa.Engine, tmp_path: Path, notify: NotifySocket, grants: str
) -> None:
    role = f"audittrail_test_{uuid.uuid4().hex[:10]}"
    database = sa.make_url(database_url).database
    owner = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        with owner.connect() as connection:
            connection.exec_driver_sql(f"GRANT CONNECT ON DATABASE {database} TO {role}")
            if grants == "read only":
                for schema in ("public", "audittrail"):
                    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
                    connection.exec_driver_sql(
                        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"
                    )
        url = sa.make_url(database_url).set(username=role).render_as_string(hide_password=False)

        serve = ServeProcess(url, tmp_path / "state", notify=notify)
        code = serve.wait(timeout=120)
    finally:
        with owner.connect() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
        owner.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE {role}")

    assert code == 3
    line = one_error_line("".join(serve.stderr))
    if grants == "none":
        assert "permission denied" in line
    else:
        assert f"role {role} lacks privileges the daemon needs: " in line
        assert 'UPDATE (last_modified_at) on "public"."sessions"' in line
        assert 'INSERT on "audittrail"."audittrail_job_runs"' in line
    assert "READY=1" not in notify.assignments()


# --- SQLite files: read-only, and one serve per file whatever the path --------------------


def make_read_only(path: Path) -> Callable[[], None]:
    """Make ``path`` read-only for the serve process; returns the undo.

    As root permissions do not bind, so the file is made immutable instead.
    """
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        return lambda: path.chmod(mode)
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {result.stderr!r}")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_sqlite_database_is_one_line_and_exit_3_before_ready(
    database_url: str, tmp_path: Path, notify: NotifySocket, what: str
) -> None:
    database = Path(sa.make_url(database_url).database or "")
    undo = make_read_only(database if what == "file" else database.parent)
    try:
        serve = ServeProcess(database_url, tmp_path / "state", notify=notify)
        code = serve.wait(timeout=120)
    finally:
        undo()

    assert code == 3
    line = one_error_line("".join(serve.stderr))
    assert ("the SQLite database" if what == "file" else "the folder") in line
    assert "is not writable" in line
    assert "READY=1" not in notify.assignments()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("link", ["hard link", "symbolic link"])
def test_another_path_to_a_served_sqlite_file_is_refused_with_exit_6(
    database_url: str, tmp_path: Path, notify: NotifySocket, link: str
) -> None:
    database = Path(sa.make_url(database_url).database or "")
    other = tmp_path / "elsewhere" / "same.db"
    other.parent.mkdir()
    if link == "hard link":
        other.hardlink_to(database)
    else:
        other.symlink_to(database)
    first = ServeProcess(
        database_url, tmp_path / "state", notify=notify, settings={"AUDITD_JOBS_SYNC_ENABLED": "0"}
    )
    try:
        notify.wait_for("READY=1", timeout=60)
        second = ServeProcess(f"sqlite:///{other}", tmp_path / "state2")
        code = second.wait(timeout=120)
        assert first.process.poll() is None
        first.send(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    finally:
        first.stop()

    assert code == 6
    line = one_error_line("".join(second.stderr))
    assert f"another audittrail serve (pid {first.pid}) is using" in line


# --- signals during start-up ---------------------------------------------------------


def handlers_installed(pid: int) -> bool:
    """True once the process catches SIGTERM (its SigCgt mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def sigterm_at_random_moments(url: str, tmp_path: Path, attempts: int = 6) -> list[int]:
    """Start ``serve`` ``attempts`` times, each stopped by SIGTERM at a random
    moment after its handlers exist; returns the exit codes."""
    chooser = random.Random(12)  # noqa: S311
    codes = []
    for attempt in range(attempts):
        folder = tmp_path / f"attempt{attempt}"
        folder.mkdir()
        notify = NotifySocket(folder)
        serve = ServeProcess(url, tmp_path / "state", notify=notify)
        try:
            pid = serve.pid
            wait_until(lambda: handlers_installed(pid), timeout=30, what="the handlers")  # noqa: B023
            time.sleep(chooser.uniform(0, 1.5))  # imports, configuration, database, ready
            serve.send(signal.SIGTERM)
            codes.append(serve.wait(timeout=120))
        finally:
            serve.stop()
            notify.close()
    return codes


def test_sigterm_at_any_moment_of_the_start_up_exits_0(database_url: str, tmp_path: Path) -> None:
    assert sigterm_at_random_moments(database_url, tmp_path) == [0] * 6


@pytest.mark.postgresql_only
def test_sigterm_while_waiting_for_an_unreachable_database_exits_0(
    database_url: str, tmp_path: Path
) -> None:
    closed_port = sa.make_url(database_url).set(port=1).render_as_string(hide_password=False)

    assert sigterm_at_random_moments(closed_port, tmp_path) == [0] * 6
