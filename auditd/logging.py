"""Structured logging for the daemon and the command line.

One call, :func:`configure_logging`, sets up structlog (and routes the standard
library's ``logging`` records from SQLAlchemy, Alembic and APScheduler through
the same pipeline). Under systemd the output goes to journald as one JSON
object per line; on a terminal it is human-readable.

Two rules protect secrets:

* tracebacks never include local variables (a frame holding a DSN would print
  its password), and
* :func:`redact_secrets` runs on every value just before rendering, so a
  password in a URL, a libpq keyword string, an exception message or a key
  named like ``password`` is replaced by ``***``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final, TextIO, cast

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from auditd.errors import ConfigError

__all__ = [
    "FORMATS",
    "LEVELS",
    "REDACTED",
    "configure_logging",
    "get_logger",
    "redact_secrets",
    "redact_value",
]

LEVELS: Final = ("debug", "info", "warning", "error")
FORMATS: Final = ("auto", "json", "console")

REDACTED: Final = "***"

# Libraries log through the standard library. Their INFO level is too chatty
# for a daemon (and SQLAlchemy logs every statement with its parameters when
# the ``sqlalchemy.engine`` logger is enabled for INFO), so they are passed on
# from WARNING up whatever our own level is.
_STDLIB_MIN_LEVEL: Final = logging.WARNING

# scheme://user:password@host. The password runs up to the first "@"
# (SQLAlchemy's own URL parser does the same), or to a later "@" that is still
# before the host's "/" for hand-written DSNs with an unescaped "@".
_URL_PASSWORD = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)"
    r"(?P<secret>[^@\s'\"]*(?:@[^@\s'\"/]*)*)"
    r"(?=@)"
)
# libpq keyword/value strings and query parameters: "password=secret",
# "password = 'quoted secret'", "?password=secret&sslmode=require".
_KEYWORD_PASSWORD = re.compile(
    r"(?P<prefix>\b[\w.-]*?(?:password|passwd|pwd|secret|token)\w*\s*=\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,'\"]+)",
    re.IGNORECASE,
)
# repr() and JSON renderings of mappings: "'password': 'secret'".
_QUOTED_KEY_PASSWORD = re.compile(
    r"(?P<prefix>(?P<q1>['\"])[\w.-]*(?:password|passwd|secret|token)[\w.-]*(?P=q1)\s*:\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")",
    re.IGNORECASE,
)
# Keys whose value is a secret; "password_file" and the like hold a path, not
# a secret, and stay readable.
_SECRET_KEY = re.compile(r"(password|passwd|secret|token)(?!\w*_(file|path)$)", re.IGNORECASE)


def redact_secrets(value: str) -> str:
    """Return *value* with every password it contains replaced by ``***``.

    Recognised forms: URL userinfo (``postgresql://user:pw@host`` →
    ``postgresql://user:***@host``), libpq keyword strings and query
    parameters (``password=pw`` → ``password=***``) and quoted mapping
    renderings (``'password': 'pw'`` → ``'password': '***'``). Text without
    secrets is returned unchanged. Use it for any message that may embed a
    connection string, such as error messages.
    """
    value = _URL_PASSWORD.sub(lambda m: m["prefix"] + REDACTED, value)
    value = _KEYWORD_PASSWORD.sub(lambda m: m["prefix"] + REDACTED, value)
    return _QUOTED_KEY_PASSWORD.sub(
        lambda m: m["prefix"] + m["secret"][0] + REDACTED + m["secret"][0], value
    )


def redact_value(value: Any) -> Any:
    """Return *value* with secrets redacted, recursing into mappings and sequences.

    Strings go through :func:`redact_secrets`; any mapping key named like
    password/passwd/secret/token has its value replaced by ``***``. Other
    objects are left alone unless their ``repr()`` (which is what the renderers
    print) contains a secret, in which case the redacted ``repr()`` is returned.
    """
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, bool | int | float | type(None)):
        return value
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY.search(key)
            else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    rendered = repr(value)
    redacted = redact_secrets(rendered)
    return value if redacted == rendered else redacted


def _redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: redact every value of the event dict (runs right before rendering)."""
    return cast(EventDict, redact_value(event_dict))  # a mapping in, a dict out


def _add_utc_timestamp(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: ISO 8601 UTC time with an explicit offset (``...+00:00``).

    structlog's ``TimeStamper(utc=True)`` writes ``Z`` instead; the offset
    form is what ``datetime.isoformat()`` produces everywhere else in auditd.
    """
    event_dict["timestamp"] = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    return event_dict


class _NamedWriteLogger(structlog.WriteLogger):
    """A WriteLogger that remembers the name passed to :func:`get_logger`."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    """Logger factory: ``structlog.get_logger(name)`` passes *name* through here."""

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self._file, str(args[0]) if args else None)


def _add_logger_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: ``logger`` = the name given to :func:`get_logger`, if any."""
    name = getattr(logger, "name", None)
    if name is not None:
        event_dict.setdefault("logger", name)
    return event_dict


def _level_number(level: str) -> int:
    name = str(level).strip().lower()
    if name not in LEVELS:
        raise ConfigError(
            f"logging level must be one of {', '.join(LEVELS)}, got: {level!r}",
            hint="set logging.level or AUDITD_LOGGING_LEVEL",
        )
    number: int = logging.getLevelNamesMapping()[name.upper()]
    return number


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty(), or the stream is closed
        return False


def _renderer(fmt: str, stream: TextIO) -> Processor:
    if fmt not in FORMATS:
        raise ConfigError(
            f"logging format must be one of {', '.join(FORMATS)}, got: {fmt!r}",
            hint="set logging.format or AUDITD_LOGGING_FORMAT",
        )
    tty = _is_tty(stream)
    if fmt == "json" or (fmt == "auto" and not tty):
        # default=repr: an odd value (a UUID, a Path) must never make a log
        # call raise; redact_value has already redacted such reprs.
        return structlog.processors.JSONRenderer(serializer=json.dumps, default=repr)
    return structlog.dev.ConsoleRenderer(
        colors=tty and "NO_COLOR" not in os.environ,
        # The default formatter is Rich's when Rich is installed, and Rich
        # shows local variables. The exception arrives pre-rendered (and
        # redacted) in "exception" anyway; this is the fallback.
        exception_formatter=structlog.dev.plain_traceback,
    )


def _exception_renderer(fmt_is_json: bool) -> Processor:
    if fmt_is_json:
        # A list of frames as dicts for journald's JSON, without locals.
        return structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
    # The standard library's plain traceback text (never includes locals).
    return structlog.processors.ExceptionRenderer()


class _OwnHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installs, so reconfiguring replaces it."""


def _route_stdlib_logging(
    stream: TextIO, level: int, foreign_pre_chain: Sequence[Processor], tail: Sequence[Processor]
) -> None:
    """Send standard-library log records through the same processors and renderer."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=list(foreign_pre_chain),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    handler = _OwnHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OwnHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(level, _STDLIB_MIN_LEVEL))


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog (and standard-library logging) for this process.

    *level* is one of :data:`LEVELS`; records below it are dropped cheaply.
    *fmt* is ``"json"`` (one JSON object per line with ``event``, ``level``,
    ``timestamp`` in UTC with offset, ``logger`` when named, and bound keys),
    ``"console"`` (human-readable; colours only on a terminal) or ``"auto"``
    (console on a terminal, JSON otherwise, e.g. under journald). *stream*
    defaults to ``sys.stdout`` as it is at call time.

    Safe to call again (on SIGHUP, in tests): loggers from :func:`get_logger`
    are not cached, so existing ones pick up the new configuration.

    Raises:
        ConfigError: *level* or *fmt* is not one of the accepted names.
    """
    min_level = _level_number(level)
    out = stream if stream is not None else sys.stdout
    renderer = _renderer(fmt, out)
    is_json = isinstance(renderer, structlog.processors.JSONRenderer)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_utc_timestamp,
    ]
    # Redaction must be the last step before rendering so that it also sees
    # the rendered traceback text and stack.
    tail: list[Processor] = [
        structlog.processors.StackInfoRenderer(),
        _exception_renderer(is_json),
        _redact_event,
        renderer,
    ]
    structlog.configure(
        processors=[*shared, _add_logger_name, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        logger_factory=_NamedWriteLoggerFactory(out),
        context_class=dict,
        # Caching would pin loggers created before a reconfiguration (module-
        # level loggers, SIGHUP) to the old settings.
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(
        out,
        min_level,
        [*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        tail,
    )


def get_logger(name: str | None = None) -> FilteringBoundLogger:
    """Return a structlog logger; *name* (usually ``__name__``) is logged as ``logger``.

    Loggers can be created at import time, before :func:`configure_logging`
    runs; they use whatever configuration is current when they log. A
    ``bind()`` result is a concrete logger tied to the configuration of that
    moment, so bind per operation rather than at import time.
    """
    # A lazy proxy: the name travels as a logger-factory argument and the
    # configuration is looked up at each call, not frozen here by a bind().
    logger: FilteringBoundLogger = (
        structlog.get_logger(name) if name is not None else structlog.get_logger()
    )
    return logger
