"""Specification of settings loading: precedence, validation, secrets, shipped file."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from auditd.config import (
    DatabaseSettings,
    JobSettings,
    load_settings,
    render_settings,
)
from auditd.config.keys import env_variable
from auditd.config.listen import split_listen_address
from auditd.config.parse import MAX_CONFIG_BYTES
from auditd.config.reference import FILES
from auditd.config.sections import DEFAULTS, KEYS
from auditd.daemon.scheduler import next_run_time
from auditd.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
LEAK_MARKER = "s3cr3t-Pa55"
PG_URL = f"postgresql+psycopg2://audit:{LEAK_MARKER}@db.example.org:5432/openevent"


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audittrail.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(
    config_path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> ConfigError:
    """Load settings (with an empty environment unless given) expecting a ConfigError."""
    with pytest.raises(ConfigError) as info:
        load_settings(config_path, environ=environ or {}, overrides=overrides)
    return info.value


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths resolve against the current directory: make it known.
    monkeypatch.chdir(tmp_path)


# --- defaults and precedence ------------------------------------------------------


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    settings = load_settings(environ={})

    assert settings.sources == ("defaults",)
    assert settings.service.state_dir == tmp_path / "state"
    assert settings.database.url == f"sqlite:///{tmp_path}/state/audittrail.db"
    assert settings.database.backend == "sqlite"
    assert settings.database.password_file is None
    assert (
        settings.database.connect_timeout_seconds,
        settings.database.statement_timeout_seconds,
        settings.database.lock_timeout_seconds,
    ) == (10, 300, 10)
    assert settings.service.batch_size == 1000
    assert settings.service.shutdown_timeout_seconds == 20
    assert settings.service.startup_retry_initial_seconds == 1.0
    assert settings.service.startup_retry_max_seconds == 30.0
    assert settings.service.startup_retry_give_up_seconds == 0.0
    assert (settings.logging.level, settings.logging.format) == ("info", "auto")
    assert settings.jobs == {
        "sync": JobSettings(name="sync", interval_seconds=30, misfire_grace_seconds=30),
        "reconcile": JobSettings(name="reconcile", cron="0 3 * * *", misfire_grace_seconds=3600),
        "verify": JobSettings(name="verify", interval_seconds=3600, misfire_grace_seconds=300),
        "seal": JobSettings(name="seal", interval_seconds=300, misfire_grace_seconds=300),
        "prune": JobSettings(
            name="prune", enabled=False, cron="30 3 * * *", misfire_grace_seconds=3600
        ),
    }
    assert (settings.ledger.block_size, settings.ledger.digest_file) == (5000, None)
    assert settings.retention.keep_days == 0
    assert [name for name, job in settings.jobs.items() if not job.enabled] == ["prune"]


def test_state_dir_defaults_to_first_systemd_state_directory() -> None:
    settings = load_settings(environ={"STATE_DIRECTORY": "/var/lib/audittrail:/var/lib/other"})

    assert settings.service.state_dir == Path("/var/lib/audittrail")
    assert settings.database.url == "sqlite:////var/lib/audittrail/audittrail.db"


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
        [database]
        url = "postgresql+psycopg2://audit@db/openevent"
        statement_timeout_seconds = 60
        [service]
        state_dir = "/srv/audit"
        batch_size = 500
        [logging]
        level = "warning"
        [jobs.verify]
        enabled = false
        """,
    )

    settings = load_settings(path, environ={})

    assert settings.sources == ("defaults", str(path))
    assert settings.database.url == "postgresql+psycopg2://audit@db/openevent"
    assert settings.database.statement_timeout_seconds == 60
    assert settings.database.connect_timeout_seconds == 10
    assert settings.service.state_dir == Path("/srv/audit")
    assert settings.service.batch_size == 500
    assert settings.logging.level == "warning"
    assert settings.jobs["verify"].enabled is False
    assert settings.jobs["verify"].interval_seconds == 3600


def test_config_file_is_taken_from_auditd_config_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[service]\nbatch_size = 7\n")

    settings = load_settings(environ={"AUDITD_CONFIG": str(path)})

    assert settings.service.batch_size == 7
    assert settings.sources == ("defaults", str(path))


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[service]\nbatch_size = 500\n[logging]\nlevel = 'debug'\n")
    environ = {
        "AUDITD_SERVICE_BATCH_SIZE": "250",
        "AUDITD_SERVICE_STARTUP_RETRY_MAX_SECONDS": "12.5",
        "AUDITD_JOBS_SYNC_ENABLED": "no",
        "AUDITD_LOGGING_FORMAT": "JSON",
    }

    settings = load_settings(path, environ=environ)

    assert settings.sources == ("defaults", str(path), "environment")
    assert settings.service.batch_size == 250
    assert settings.service.startup_retry_max_seconds == 12.5
    assert settings.jobs["sync"].enabled is False
    assert settings.logging.format == "json"
    assert settings.logging.level == "debug"


def test_overrides_beat_environment() -> None:
    settings = load_settings(
        environ={"AUDITD_LOGGING_LEVEL": "error", "AUDITD_SERVICE_BATCH_SIZE": "10"},
        overrides={"logging.level": "debug", "service.batch_size": "20", "database.url": None},
    )

    assert settings.logging.level == "debug"
    assert settings.service.batch_size == 20
    assert settings.sources == ("defaults", "environment", "overrides")


def test_cron_in_file_replaces_default_interval(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[jobs.sync]\ncron = "*/5 * * * *"\n')

    sync = load_settings(path, environ={}).jobs["sync"]

    assert (sync.interval_seconds, sync.cron) == (None, "*/5 * * * *")
    assert sync.describe() == "cron '*/5 * * * *' (UTC)"


def test_interval_in_environment_replaces_cron_from_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[jobs.verify]\ncron = "0 4 * * *"\n')

    verify = load_settings(path, environ={"AUDITD_JOBS_VERIFY_INTERVAL_SECONDS": "600"})
    job = verify.jobs["verify"]

    assert (job.interval_seconds, job.cron) == (600, None)
    assert job.describe() == "every 600s"


def test_empty_string_restores_automatic_default(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[database]\nurl = "sqlite:////srv/a.db"\n')

    settings = load_settings(path, environ={"AUDITD_DATABASE_URL": ""})

    assert settings.database.url == f"sqlite:///{tmp_path}/state/audittrail.db"


def test_shipped_config_file_equals_builtin_defaults() -> None:
    shipped = load_settings(REPO / "config" / "audittrail.toml", environ={})

    assert shipped == load_settings(environ={})


def test_shipped_config_file_lists_every_setting() -> None:
    shipped = tomllib.loads((REPO / "config" / "audittrail.toml").read_text(encoding="utf-8"))
    rendered = tomllib.loads(render_settings(load_settings(environ={})))

    # render_settings writes every key (the job schedule kind in use).
    assert shipped == rendered | {
        "service": rendered["service"] | {"state_dir": ""},
        "database": rendered["database"] | {"url": ""},
    }


@pytest.mark.parametrize("path", sorted(FILES, key=str), ids=str)
def test_documented_toml_files_are_generated_from_the_declarations(path: Path) -> None:
    # Rewrite them with: .venv/bin/python -m auditd.config.reference
    assert (REPO / path).read_text(encoding="utf-8") == FILES[path]()


def test_every_declared_key_has_its_environment_variable_and_documentation() -> None:
    defaults = load_settings(environ={})
    for key, default in DEFAULTS.items():
        text = "" if default is None else str(default).lower() if default is True else str(default)
        assert load_settings(environ={env_variable(key): text}) == defaults, key
    reference = (REPO / "config" / "audittrail.toml").read_text(encoding="utf-8")
    for key, declared in KEYS.items():
        assert declared.doc.splitlines()[0] in reference.replace("\n# ", " "), key


def test_the_readme_configuration_table_names_every_key() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for key in KEYS:
        section, leaf = key.rsplit(".", 1)
        if not section.startswith("jobs."):
            assert leaf in table, f"{key} is missing from the README's configuration table"


def test_rendered_settings_load_back_to_the_same_settings(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"STATE_DIRECTORY": "/var/lib/audittrail"},
        overrides={"jobs.sync.cron": "*/2 * * * *", "logging.format": "console"},
    )
    path = write_config(tmp_path, render_settings(settings))

    assert load_settings(path, environ={}) == settings


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.service.batch_size = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.jobs["sync"] = settings.jobs["verify"]  # type: ignore[index]


def test_settings_constructed_directly_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"jobs\.sync needs exactly one"):
        JobSettings(name="sync", misfire_grace_seconds=5)
    with pytest.raises(ConfigError, match="postgresql"):
        DatabaseSettings(url="mysql://u@h/db")


# --- database URLs ----------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_bare_postgresql_url_is_normalised_to_psycopg2(scheme: str) -> None:
    settings = load_settings(environ={"AUDITD_DATABASE_URL": f"{scheme}://u@db:5432/oe"})

    assert settings.database.url == "postgresql+psycopg2://u@db:5432/oe"
    assert settings.database.backend == "postgresql"


def test_psycopg3_url_is_rejected() -> None:
    error = config_error(environ={"AUDITD_DATABASE_URL": "postgresql+psycopg://u@db/oe"})

    assert "only sqlite and postgresql+psycopg2 are supported" in error.message
    assert "AUDITD_DATABASE_URL" in str(error.hint)


def test_other_database_drivers_are_rejected() -> None:
    error = config_error(overrides={"database.url": "mysql://u@db/oe"})

    assert error.message.startswith("database.url uses driver 'mysql'")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://"])
def test_in_memory_sqlite_is_rejected(url: str) -> None:
    error = config_error(overrides={"database.url": url})

    assert "in-memory SQLite" in error.message


@pytest.mark.parametrize("url", ["sqlite+pysqlite:///db/a.db", "sqlite:///a.db"])
def test_a_relative_sqlite_path_is_refused_with_the_absolute_form(url: str) -> None:
    error = config_error(overrides={"database.url": url})

    assert "relative SQLite path" in error.message
    assert "sqlite:////path/to/a.db" in str(error.hint)


def test_the_default_database_is_an_absolute_path_in_the_state_directory(tmp_path: Path) -> None:
    settings = load_settings(environ={})

    assert settings.database.url == f"sqlite:///{tmp_path}/state/audittrail.db"


def test_sqlite_query_parameters_are_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db?mode=ro"
    settings = load_settings(environ={}, overrides={"database.url": url})

    assert settings.database.url == url


def exception_chain_text(error: BaseException | None) -> str:
    """Everything a traceback printer could show: each chained exception's text."""
    texts = []
    while error is not None:
        texts.append(f"{error!s} {error.args!r}")
        error = error.__cause__ or error.__context__
    return " ".join(texts)


@pytest.mark.parametrize("url", [LEAK_MARKER, f"postgresql://audit:{LEAK_MARKER}/oe"])
def test_unparseable_url_is_rejected_without_echoing_it(url: str) -> None:
    error = config_error(overrides={"database.url": url})

    assert error.message.startswith("database.url is not a valid database URL: ")
    # SQLAlchemy's own parse error quotes the password; it must not even be chained.
    assert LEAK_MARKER not in exception_chain_text(error)


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("sslmode=bogus", 'invalid sslmode value: "bogus"'),
        ("target_session_attrs=any&foo=bar", 'invalid connection option "foo"'),
        ("gssencmode=sometimes", 'invalid gssencmode value: "sometimes"'),
    ],
)
def test_connection_options_libpq_refuses_are_config_errors(query: str, problem: str) -> None:
    error = config_error(environ={"AUDITD_DATABASE_URL": f"postgresql://a@db.invalid/oe?{query}"})

    assert error.message == f"database.url has a connection option that libpq refuses: {problem}"
    assert error.exit_code == 3


def test_connection_options_libpq_accepts_pass_without_connecting() -> None:
    url = "postgresql://a@db.invalid/oe?sslmode=verify-full&connect_timeout=3&host=/run/pg"

    settings = load_settings(environ={"AUDITD_DATABASE_URL": url})

    assert make_url(settings.database.url).query == make_url(url).query


def test_postgresql_url_needs_a_database_name() -> None:
    error = config_error(overrides={"database.url": f"postgresql://audit:{LEAK_MARKER}@db"})

    assert (
        error.message == "database.url must name a PostgreSQL database: postgresql://audit:***@db"
    )


# --- secrets ----------------------------------------------------------------------


def test_password_never_appears_in_repr_str_or_rendered_config() -> None:
    settings = load_settings(environ={"AUDITD_DATABASE_URL": PG_URL})

    assert settings.database.url == PG_URL  # the real value is kept for connecting
    for text in (repr(settings), str(settings), repr(settings.database), render_settings(settings)):
        assert LEAK_MARKER not in text
    assert "audit:***@db.example.org" in repr(settings.database)
    assert 'url = "postgresql+psycopg2://audit:***@db.example.org:5432/openevent"' in (
        render_settings(settings)
    )
    assert settings.database.masked_url() == PG_URL.replace(LEAK_MARKER, "***")


def test_password_query_parameter_is_masked() -> None:
    url = f"postgresql://audit@db/oe?sslmode=require&password={LEAK_MARKER}"
    settings = load_settings(environ={"AUDITD_DATABASE_URL": url})

    assert settings.database.masked_url() == (
        "postgresql+psycopg2://audit@db/oe?password=***&sslmode=require"
    )
    assert LEAK_MARKER not in repr(settings) + render_settings(settings)


def test_password_is_masked_in_error_messages() -> None:
    error = config_error(
        environ={"AUDITD_DATABASE_URL": f"postgresql+asyncpg://audit:{LEAK_MARKER}@db/oe"}
    )

    assert error.message.startswith("database.url uses driver 'postgresql+asyncpg'")
    assert LEAK_MARKER not in exception_chain_text(error)


def test_password_file_is_injected_by_connect_url(tmp_path: Path) -> None:
    secret_file = tmp_path / "dbpass"
    secret_file.write_text(f"{LEAK_MARKER}\n", encoding="utf-8")
    settings = load_settings(
        environ={
            "AUDITD_DATABASE_URL": "postgresql://audit:old@db/oe",
            "AUDITD_DATABASE_PASSWORD_FILE": str(secret_file),
        }
    )

    url = settings.database.connect_url()

    assert url.password == LEAK_MARKER
    assert url.drivername == "postgresql+psycopg2"
    assert LEAK_MARKER not in repr(settings) + render_settings(settings)


def test_password_file_is_read_at_call_time(tmp_path: Path) -> None:
    secret_file = tmp_path / "dbpass"
    secret_file.write_text("first", encoding="utf-8")
    database = DatabaseSettings(url="postgresql://audit@db/oe", password_file=secret_file)

    for credential in ("first", "rotated"):
        secret_file.write_text(credential, encoding="utf-8")
        assert database.connect_url().password == credential


def test_missing_password_file_is_a_config_error_at_load(tmp_path: Path) -> None:
    error = config_error(
        environ={
            "AUDITD_DATABASE_URL": "postgresql://a@db/oe",
            "AUDITD_DATABASE_PASSWORD_FILE": str(tmp_path / "absent"),
        }
    )

    assert error.message == (
        f"database.password_file {tmp_path / 'absent'} cannot be read: No such file or directory"
    )


def test_a_password_file_that_disappears_later_is_a_config_error_at_connect(
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "dbpass"
    secret_file.write_text("first", encoding="utf-8")
    database = DatabaseSettings(url="postgresql://a@db/oe", password_file=secret_file)
    secret_file.unlink()

    with pytest.raises(ConfigError, match=r"database\.password_file .* cannot be read"):
        database.connect_url()


@pytest.mark.parametrize(("content", "problem"), [(b"\n", "is empty"), (b"\xff\xfe", "not UTF-8")])
def test_an_empty_or_binary_password_file_is_a_config_error(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    (tmp_path / "dbpass").write_bytes(content)

    with pytest.raises(ConfigError, match=problem):
        DatabaseSettings(url="postgresql://a@db/oe", password_file=tmp_path / "dbpass")


def test_password_file_with_sqlite_is_rejected(tmp_path: Path) -> None:
    error = config_error(environ={"AUDITD_DATABASE_PASSWORD_FILE": str(tmp_path / "p")})

    assert "database.password_file is set but database.url is SQLite" in error.message


# --- errors in the file -----------------------------------------------------------


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    error = config_error(tmp_path / "absent.toml", environ={})

    assert error.message == f"config file not found: {tmp_path / 'absent.toml'}"


def test_unknown_key_in_file_lists_valid_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[service]\nbatch_sise = 10\n")

    error = config_error(path, environ={})

    assert error.message.startswith(f"unknown key 'batch_sise' in [service] of {path}")
    assert "valid keys: state_dir, batch_size, shutdown_timeout_seconds" in error.message
    assert error.hint == "did you mean batch_size?"


def test_unknown_section_in_file_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[databse]\nurl = ''\n")

    error = config_error(path, environ={})

    assert error.message.startswith("unknown section [databse]")
    assert error.hint == "did you mean database?"


def test_setting_outside_its_section_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "batch_size = 10\n")

    error = config_error(path, environ={})

    assert error.message.startswith(f"unknown top-level key 'batch_size' in {path}")
    assert error.hint is not None and error.hint.startswith("did you mean service.batch_size")


def test_unknown_job_section_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[jobs.cleanup]\nenabled = true\n")

    assert config_error(path, environ={}).message.startswith("unknown section [jobs.cleanup]")


def test_wrong_type_in_file_names_key_and_value(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[service]\nbatch_size = "500"\n')

    error = config_error(path, environ={})

    assert error.message == "service.batch_size must be an integer, got: '500'"
    assert error.hint == f"in {path}"


def test_boolean_is_not_accepted_as_a_number(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[database]\nconnect_timeout_seconds = true\n")

    assert "must be an integer, got: True" in config_error(path, environ={}).message


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("9464", "127.0.0.1", 9464),
        ("0.0.0.0:80", "0.0.0.0", 80),  # noqa: S104 (what the test is about)
        ("[::1]:9464", "::1", 9464),
    ],
)
def test_metrics_listen_on_loopback_unless_a_host_is_given(text: str, host: str, port: int) -> None:
    settings = load_settings(environ={"AUDITD_METRICS_LISTEN_ADDRESS": text})

    assert settings.metrics.enabled
    assert split_listen_address(settings.metrics.listen_address) == (host, port)


def test_metrics_are_off_by_default() -> None:
    assert not load_settings(environ={}).metrics.enabled


def test_a_config_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"[logging]\n# caf\xe9\nlevel = 'info'\n")

    error = config_error(path, environ={})

    assert (
        error.message == f"config file {path} is not UTF-8 text: byte 0xe9 at line 2 is not UTF-8"
    )


@pytest.mark.parametrize("kind", ["directory", "device", "fifo"])
def test_a_config_path_that_is_not_a_regular_file_is_refused_without_reading_it(
    tmp_path: Path, kind: str
) -> None:
    if kind == "directory":
        path = tmp_path
    elif kind == "device":
        path = Path("/dev/zero")  # endless: reading it would never return
    else:
        path = tmp_path / "fifo.toml"
        os.mkfifo(path)  # no writer: opening it for reading would block

    error = config_error(path, environ={})

    assert error.message.startswith(f"config file {path} is ")
    assert error.message.endswith(("a directory", "not a regular file"))


def test_an_oversized_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text("#" * (MAX_CONFIG_BYTES + 1), encoding="utf-8")

    error = config_error(path, environ={})

    assert error.message == f"config file {path} is larger than 1024 KiB"


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[service]\nbatch_size = = 3\n")

    error = config_error(path, environ={})

    assert error.message.startswith(f"{path} is not valid TOML: ")
    assert "line 2" in error.message


def test_bad_cron_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[jobs.reconcile]\ncron = "0 25 * * *"\n')

    error = config_error(path, environ={})

    assert error.message.startswith("jobs.reconcile.cron is not a valid crontab expression: ")
    assert "'0 25 * * *'" in error.message


@pytest.mark.parametrize("expression", ["0 3 30 2 *", "0 3 31 4,6,9,11 *", "0 3 30 2 mon"])
def test_a_cron_schedule_that_never_fires_is_refused_with_the_reason(
    tmp_path: Path, expression: str
) -> None:
    path = write_config(tmp_path, f'[jobs.reconcile]\ncron = "{expression}"\n')

    error = config_error(path, environ={})

    assert error.message.startswith("jobs.reconcile.cron is not a valid crontab expression: ")
    assert "it never fires: no month" in error.message


def test_a_leap_day_schedule_fires_and_is_accepted(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[jobs.reconcile]\ncron = "0 3 29 2 *"\n')

    job = load_settings(path, environ={}).jobs["reconcile"]

    fire = next_run_time(job, datetime(2026, 12, 2, tzinfo=UTC))
    assert fire == datetime(2028, 2, 29, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("weekdays", ["sat-sun", "mon#1", "L", "8", "funday"])
def test_a_weekday_field_the_daemon_cannot_schedule_is_rejected_at_load(
    tmp_path: Path, weekdays: str
) -> None:
    path = write_config(tmp_path, f'[jobs.reconcile]\ncron = "0 3 * * {weekdays}"\n')

    error = config_error(path, environ={})

    assert error.message.startswith("jobs.reconcile.cron is not a valid crontab expression: ")


def test_sunday_may_be_seven_as_in_cron(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[jobs.reconcile]\ncron = "0 3 * * 7"\n')
    job = load_settings(path, environ={}).jobs["reconcile"]

    thursday = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    fire = next_run_time(job, thursday)
    assert fire is not None and fire.strftime("%a %d") == "Sun 29"


def test_interval_and_cron_in_one_layer_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[jobs.sync]\ninterval_seconds = 10\ncron = "* * * * *"\n')

    error = config_error(path, environ={})

    assert error.message == "jobs.sync sets both interval_seconds and cron: give only one"


def test_interval_and_cron_in_environment_is_an_error() -> None:
    environ = {"AUDITD_JOBS_SYNC_INTERVAL_SECONDS": "5", "AUDITD_JOBS_SYNC_CRON": "* * * * *"}

    assert "sets both interval_seconds and cron" in config_error(environ=environ).message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("service.batch_size", "-5", "service.batch_size must be between 1 and 100000, got: -5"),
        ("service.batch_size", "100001", "between 1 and 100000, got: 100001"),
        ("database.lock_timeout_seconds", "0", "must be a positive integer, got: 0"),
        ("service.shutdown_timeout_seconds", "-1", "must be a positive integer, got: -1"),
        ("jobs.sync.interval_seconds", "0", "jobs.sync.interval_seconds must be a positive"),
        ("jobs.sync.interval_seconds", "99999999999999999", "must be at most 2073600 seconds"),
        ("database.statement_timeout_seconds", "2073601", "must be at most 2073600 seconds"),
        ("jobs.verify.misfire_grace_seconds", "0", "must be a positive integer, got: 0"),
        ("service.startup_retry_give_up_seconds", "-1", "must be at least 0, got: -1.0"),
        ("service.change_poll_seconds", "0.01", "must be between 0.1 and 60, got: 0.01"),
        ("metrics.listen_address", "localhost", "metrics.listen_address must be PORT"),
        ("metrics.listen_address", "::1:9464", "write an IPv6 address in brackets"),
        ("metrics.listen_address", "127.0.0.1:99999", "needs a port from 1 to 65535"),
        ("metrics.listen_address", "bad host!:80", "invalid host 'bad host!'"),
        ("service.startup_retry_initial_seconds", "nan", "must be a finite number"),
        ("service.startup_retry_initial_seconds", "60", "must not exceed"),
        ("logging.level", "verbose", "logging.level must be one of debug, info, warning, error"),
        ("logging.format", "xml", "logging.format must be one of auto, json, console"),
        ("jobs.sync.enabled", "maybe", "jobs.sync.enabled must be true/false/1/0/yes/no"),
    ],
)
def test_out_of_range_or_invalid_values_are_errors_naming_the_key(
    key: str, value: str, message: str
) -> None:
    error = config_error(environ={}, overrides={key: value})

    assert message in error.message


# --- errors in the environment and overrides --------------------------------------


def test_unknown_auditd_environment_variable_suggests_close_matches() -> None:
    error = config_error(environ={"AUDITD_SERVICE_BATCHSIZE": "5"})

    assert error.message == "unknown environment variable AUDITD_SERVICE_BATCHSIZE"
    assert str(error.hint).startswith("did you mean AUDITD_SERVICE_BATCH_SIZE")


def test_unrelated_environment_variables_are_ignored() -> None:
    settings = load_settings(environ={"PATH": "/bin", "AUDIT_X": "1", "AUDITD_CONFIG": ""})

    assert settings.sources == ("defaults",)


def test_wrong_type_in_environment_names_the_variable() -> None:
    error = config_error(environ={"AUDITD_DATABASE_CONNECT_TIMEOUT_SECONDS": "ten"})

    assert error.message == "database.connect_timeout_seconds must be an integer, got: 'ten'"
    assert error.hint == "from environment variable AUDITD_DATABASE_CONNECT_TIMEOUT_SECONDS"


def test_unknown_override_is_an_error() -> None:
    error = config_error(environ={}, overrides={"logging.levle": "debug"})

    assert error.message == "unknown setting 'logging.levle'"
    assert error.hint == "did you mean logging.level?"


def test_config_errors_exit_with_code_3() -> None:
    assert config_error(environ={}, overrides={"nope": 1}).exit_code == 3


def test_settings_compare_by_value_not_by_source(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[service]\nbatch_size = 1000\n")

    assert load_settings(path, environ={}) == load_settings(environ={})
