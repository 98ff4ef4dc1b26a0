"""auditd.logging: JSON lines for journald, console on a terminal, no secrets anywhere."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from auditd.errors import ConfigError
from auditd.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    redact_secrets,
    redact_value,
)

DSN = "postgresql+psycopg2://audittrail:s3cret@db.example:5432/openevent"


class TtyStringIO(io.StringIO):
    """A capture stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def fail_to_connect() -> None:
    dsn = DSN  # a local variable holding the password, as in real connection code
    raise ConnectionError(f"cannot connect to {dsn}")


def test_json_line_carries_event_level_utc_timestamp_logger_and_bound_keys() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    get_logger("auditd.daemon.jobs").bind(job="sync").info("batch done", rows=3)

    (record,) = json_lines(out)
    assert record["event"] == "batch done"
    assert record["level"] == "info"
    assert record["logger"] == "auditd.daemon.jobs"
    assert (record["job"], record["rows"]) == ("sync", 3)
    assert record["timestamp"].endswith("+00:00")
    stamp = dt.datetime.fromisoformat(record["timestamp"])
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(minutes=1)


def test_each_event_is_exactly_one_line_even_with_newlines_and_tracebacks() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    log = get_logger()
    log.info("two\nlines")
    try:
        fail_to_connect()
    except ConnectionError:
        log.exception("connect failed")

    assert [r["event"] for r in json_lines(out)] == ["two\nlines", "connect failed"]


def test_levels_below_the_configured_one_are_dropped() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", out)
    log = get_logger()
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")

    assert [r["level"] for r in json_lines(out)] == ["warning", "error"]


def test_json_exception_has_frames_but_no_locals_and_no_password() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    try:
        fail_to_connect()
    except ConnectionError:
        get_logger().exception("connect failed")

    text = out.getvalue()
    assert "s3cret" not in text
    (record,) = json_lines(out)
    (exc,) = record["exception"]
    assert exc["exc_type"] == "ConnectionError"
    assert exc["exc_value"] == (
        "cannot connect to postgresql+psycopg2://audittrail:***@db.example:5432/openevent"
    )
    assert [f["name"] for f in exc["frames"]][-1] == "fail_to_connect"
    assert all("locals" not in f or f["locals"] is None for f in exc["frames"])


def test_console_exception_is_a_plain_traceback_without_password() -> None:
    out = io.StringIO()
    configure_logging("info", "console", out)
    try:
        fail_to_connect()
    except ConnectionError:
        get_logger().exception("connect failed")

    text = out.getvalue()
    assert "s3cret" not in text
    assert "Traceback (most recent call last):" in text
    assert "in fail_to_connect" in text
    assert "audittrail:***@db.example" in text


def test_bound_values_are_redacted_by_key_and_by_content() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    fields = {
        "url": DSN,
        "database": {"password": "s3cret", "options": ["password=s3cret"]},
        "api_token": "s3cret",
        "password_file": "/run/credentials/audittrail.service/database-password",
    }
    get_logger().info("config loaded", **fields)

    assert "s3cret" not in out.getvalue()
    (record,) = json_lines(out)
    assert record["url"] == DSN.replace("s3cret", "***")
    assert record["database"] == {"password": "***", "options": ["password=***"]}
    assert record["api_token"] == REDACTED
    assert record["password_file"].endswith("/database-password")


def test_standard_library_warnings_are_rendered_and_redacted_too() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    logging.getLogger("apscheduler.scheduler").warning("lost connection to %s", DSN)
    logging.getLogger("sqlalchemy.engine").info("SELECT 1")  # below the library floor

    (record,) = json_lines(out)
    assert record["logger"] == "apscheduler.scheduler"
    assert record["level"] == "warning"
    assert "s3cret" not in record["event"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DSN, "postgresql+psycopg2://audittrail:***@db.example:5432/openevent"),
        ("postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:a/b@db/x?app=a@b", "postgresql://u:***@db/x?app=a@b"),
        ("a https://u:x@h and https://v:y@k", "a https://u:***@h and https://v:***@k"),
        ("host=db user=audittrail password=s3cret", "host=db user=audittrail password=***"),
        ("password = 'has \\' quote' port=5432", "password = *** port=5432"),
        ("AUDITD_DATABASE_PASSWORD=s3cret", "AUDITD_DATABASE_PASSWORD=***"),
        ("{'password': 's3cret', 'user': 'u'}", "{'password': '***', 'user': 'u'}"),
    ],
)
def test_redact_secrets_hides_passwords(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "postgresql+psycopg2://audittrail@db.example/openevent",
        "sqlite:////var/lib/audittrail/audittrail.db",
        "http://example.com:8080/path",
        "synced 12 sessions in 0.3 s",
    ],
)
def test_redact_secrets_leaves_text_without_secrets_alone(text: str) -> None:
    assert redact_secrets(text) == text


def test_redact_value_recurses_into_nested_mappings_and_sequences() -> None:
    value = {"db": {"url": DSN, "Password": 1}, "list": [("x", "passwd=s3cret")]}

    assert redact_value(value) == {
        "db": {"url": DSN.replace("s3cret", "***"), "Password": "***"},
        "list": [["x", "passwd=***"]],
    }


def test_auto_format_is_console_on_a_terminal_without_forcing_colours_elsewhere() -> None:
    tty = TtyStringIO()
    configure_logging("info", "auto", tty)
    get_logger("auditd.daemon.service").info("started", pid=42)
    line = tty.getvalue()
    assert not line.lstrip().startswith("{")
    assert "started" in line
    assert "pid" in line

    piped = io.StringIO()
    configure_logging("info", "console", piped)
    get_logger().info("started")
    assert "\x1b[" not in piped.getvalue()  # no ANSI colours into a pipe


def test_auto_format_is_json_when_not_a_terminal() -> None:
    out = io.StringIO()
    configure_logging("info", "auto", out)
    get_logger().info("started")

    assert json_lines(out)[0]["event"] == "started"


def test_reconfiguring_redirects_existing_loggers_and_changes_the_level() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", first)
    log = get_logger("auditd.daemon.service")  # created once, like a module-level logger
    log.info("before")
    configure_logging("debug", "json", second)
    log.debug("after")

    assert [r["event"] for r in json_lines(first)] == ["before"]
    assert [r["event"] for r in json_lines(second)] == ["after"]
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_OwnHandler"]
    assert len(ours) == 1


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "json"), ("info", "xml")])
def test_unknown_level_or_format_is_a_config_error_naming_the_setting(level: str, fmt: str) -> None:
    with pytest.raises(ConfigError, match=r"got: '(verbose|xml)'"):
        configure_logging(level, fmt, io.StringIO())
