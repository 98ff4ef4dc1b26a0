"""The output options every reading command shares, and the renderer they give."""

from __future__ import annotations

import argparse
from zoneinfo import ZoneInfo

from auditd.cli.context import CommandContext
from auditd.cli.render import FORMATS, Renderer, default_format
from auditd.cli.table import terminal_width
from auditd.timeparse import parse_zone


def output_options() -> argparse.ArgumentParser:
    """``--format``, ``--tz`` and ``--csv-formulas``, as an argparse parent."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: table on a terminal, jsonl otherwise)",
    )
    options.add_argument(
        "--tz",
        metavar="ZONE",
        help="show times in ZONE, an IANA name such as Europe/Berlin (default: UTC);"
        " input times without an offset are read in ZONE (without --tz they need one)",
    )
    options.add_argument(
        "--csv-formulas",
        action="store_true",
        help="write CSV cells that start with = + - @ as they are (default: with a"
        " leading ' so that a spreadsheet shows them as text instead of running them)",
    )
    return options


def display_zone(args: argparse.Namespace) -> ZoneInfo | None:
    """The ``--tz`` zone, None when not given. UsageError for an unknown zone."""
    return None if args.tz is None else parse_zone(args.tz)


def make_renderer(
    context: CommandContext, args: argparse.Namespace, zone: ZoneInfo | None
) -> Renderer:
    """A renderer for the command's ``--format`` (default: table on a terminal,
    jsonl otherwise), times in ``zone`` (default UTC), tables as wide as the
    terminal."""
    fmt = args.format or default_format(context.out)
    return Renderer(
        context.out,
        fmt,
        zone or ZoneInfo("UTC"),
        width=terminal_width(context.out),
        keep_formulas=args.csv_formulas,
        err=context.err,
    )
