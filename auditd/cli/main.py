"""Entry point of ``audittrail``: global options, dispatch, error handling.

User mistakes (:class:`~auditd.errors.AuditdError`) print one line,
``error: <what> (<hint>)``, and exit with the error's code; ``--traceback``
shows the stack instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import sqlalchemy as sa

from auditd import db
from auditd.cli import admin, adopt, daemon, help, history, ledger, roles
from auditd.cli.cells import escape_line
from auditd.cli.context import CommandContext
from auditd.cli.progress import CURRENT_STDERR
from auditd.daemon.signals import SIGNALS
from auditd.errors import (
    INTEGRITY_HINT,
    AuditdError,
    DatabaseAccessError,
    DatabaseUnavailableError,
    IntegrityError,
    UsageError,
    first_line,
)
from auditd.logging import LEVELS, configure_logging, redact_secrets

# INTEGRITY_HINT, naming the command that locates the change.
CLI_INTEGRITY_HINT = (
    "the audit rows were changed outside capture; run `audittrail verify --integrity`"
    " to locate the change"
)
COMMAND_MODULES = (admin, history, daemon, ledger, adopt, roles)


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as UsageError (one line, exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, f"see `{self.prog} --help`")


def _add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The options every command takes. On a command's own parser their default
    is "not given" (SUPPRESS), so that an option given after the command
    overrides one given before it, and one given only before it survives."""
    given: Any = None if defaults else argparse.SUPPRESS
    parser.add_argument("--config", metavar="PATH", default=given, help="TOML configuration file")
    parser.add_argument(
        "--database-url", metavar="URL", default=given, help="overrides database.url"
    )
    parser.add_argument(
        "--log-level", choices=LEVELS, default=given, help="overrides logging.level"
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="show the stack on errors",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``audittrail`` parser. Global options are accepted before and after
    the command (``audittrail --config X serve`` and ``audittrail serve --config X``)."""
    parser = _Parser(
        prog="audittrail",
        description="Change-tracking audit daemon for Open Event databases.",
        epilog="`audittrail COMMAND --help` shows a command's options, examples and exit codes.",
    )
    parser.add_argument("--version", action="version", version=f"audittrail {version('auditd')}")
    _add_global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in COMMAND_MODULES:
        module.register(commands)
    for command in dict.fromkeys(commands.choices.values()):
        group = command.add_argument_group("global options (also accepted before the command)")
        _add_global_options(group, defaults=False)  # type: ignore[arg-type]
    help.document(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    context: CommandContext | None = None
    try:
        args = build_parser().parse_args(argv)
        if args.command != "serve":
            SIGNALS.release()  # only serve stops gracefully; other commands end as usual
        context = CommandContext(args)
        if args.command != "serve":
            logging = context.settings.logging
            # Through the current sys.stderr, so that a progress line can keep log lines apart.
            configure_logging(logging.level, logging.format, stream=CURRENT_STDERR)
        code: int = args.handler(context, args)
        return code
    except AuditdError as error:
        if show_traceback:
            raise
        if isinstance(error, IntegrityError) and error.hint == INTEGRITY_HINT:
            error.hint = CLI_INTEGRITY_HINT
        # Messages may quote stored data (known actors): no control character reaches the terminal.
        print(f"error: {escape_line(redact_secrets(str(error)))}", file=sys.stderr)
        return error.exit_code
    except sa.exc.OperationalError as error:
        if show_traceback:
            raise
        print(
            f"error: database error: {escape_line(redact_secrets(first_line(error)))}",
            file=sys.stderr,
        )
        return DatabaseUnavailableError.exit_code
    except sa.exc.ProgrammingError as error:
        # A statement the role may not run (a missing grant, or history's
        # append-only guard): the user's setup, not a bug.
        if show_traceback or getattr(error.orig, "pgcode", None) != db.INSUFFICIENT_PRIVILEGE:
            raise
        print(
            f"error: permission denied: {escape_line(redact_secrets(first_line(error)))}"
            " (run as a role granted what docs/privileges.md lists for it)",
            file=sys.stderr,
        )
        return DatabaseAccessError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `audittrail history … | head`: the reader left, which is not an error.
        # Python flushes stdout at exit; point it at /dev/null so that flush
        # cannot fail again and print a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        if context is not None:
            context.close()


if __name__ == "__main__":
    sys.exit(main())
