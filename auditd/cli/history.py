"""History commands: history, show, changes, who-changed, revert, report.

Each handler checks its arguments (before connecting), makes one call into
:mod:`auditd.api` and renders the result with :mod:`auditd.cli.render`.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from auditd import migrate
from auditd.cli.arguments import check_time_range, parse_positive_id, parse_time
from auditd.cli.cells import escape
from auditd.cli.chart import bucket_counts, bucket_for, check_chart_path, write_chart
from auditd.cli.context import CommandContext
from auditd.cli.follow import MAX_INTERVAL, MIN_INTERVAL, follow
from auditd.cli.output import display_zone, make_renderer, output_options
from auditd.cli.render import (
    write_changes,
    write_page,
    write_report,
    write_revert,
    write_state,
)
from auditd.errors import UsageError
from auditd.history import api
from auditd.history.records import ChangePage
from auditd.history.tables import check_model_name

MODEL_HELP = f"one of: {', '.join(api.MODELS)}"


def _id(what: str) -> Any:
    def parse(text: str) -> int:
        try:
            return parse_positive_id(text, what=what)
        except UsageError as error:
            raise argparse.ArgumentTypeError(error.message) from None

    parse.__name__ = what
    return parse


def _row_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("id", metavar="ID", type=_id("id"), help="the row's id")


def _cursor(text: str) -> int:
    """0 (from the beginning) or a transaction id."""
    if text.strip() == "0":
        return 0
    return int(_id("transaction id")(text))


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"interval must be {MIN_INTERVAL} to {MAX_INTERVAL:g} seconds, got {text!r}"
        )
    return seconds


def register(commands: Any) -> None:
    common = [output_options()]
    order = {
        "choices": ("newest", "oldest"),
        "default": "newest",
        "help": "newest first (default) or oldest first",
    }

    parser = commands.add_parser("history", parents=common, help="every change of one row")
    _row_arguments(parser)
    parser.add_argument("--order", **order)
    parser.set_defaults(handler=run_history)

    parser = commands.add_parser("show", parents=common, help="a row as it was at a time")
    _row_arguments(parser)
    parser.add_argument(
        "--at", metavar="TIME", help="ISO 8601 time, with an offset or with --tz (default: now)"
    )
    parser.set_defaults(handler=run_show)

    parser = commands.add_parser(
        "changes", parents=common, help="the change feed, oldest first, with a cursor"
    )
    parser.add_argument("--since", metavar="TIME", help="issued at or after TIME")
    parser.add_argument("--until", metavar="TIME", help="issued before TIME")
    parser.add_argument("--model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("--actor", metavar="NAME", help="only changes by this actor")
    parser.add_argument("--field", metavar="FIELD", help="only changes of this field")
    parser.add_argument("--event-id", metavar="N", type=_id("event id"), help="rows of event N")
    parser.add_argument(
        "--after-transaction",
        metavar="N",
        type=_cursor,
        help="cursor: only transactions after N, the next_after_transaction (or last"
        " transaction_id) of the previous page; 0 starts from the beginning (default)",
    )
    parser.add_argument(
        "--limit",
        metavar="N",
        type=_id("limit"),
        default=1000,
        help="at most N transactions per page, each with all its changes (default: 1000)",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep polling and print new changes as they commit, until SIGINT or SIGTERM",
    )
    parser.add_argument(
        "--interval",
        metavar="SECONDS",
        type=_interval,
        default=1.0,
        help="with --follow: seconds between polls when up to date (default: 1)",
    )
    parser.set_defaults(handler=run_changes)

    parser = commands.add_parser(
        "who-changed", parents=common, help="each change of one field: who, when, old, new"
    )
    _row_arguments(parser)
    parser.add_argument("field", metavar="FIELD", help="a versioned field, or speakers")
    parser.add_argument("--order", **order)
    parser.set_defaults(handler=run_who_changed)

    parser = commands.add_parser(
        "revert", parents=common, help="restore a row as of a transaction (recorded as a change)"
    )
    _row_arguments(parser)
    parser.add_argument(
        "--to",
        metavar="TRANSACTION",
        type=_id("transaction id"),
        required=True,
        help="restore the row as it was right after this transaction (see `history`)",
    )
    parser.add_argument("--reason", metavar="TEXT", help="why (stored with the revert)")
    parser.add_argument("--actor", metavar="NAME", help="who reverts (default: login name)")
    parser.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    parser.set_defaults(handler=run_revert)

    parser = commands.add_parser("report", parents=common, help="counts of changes in a range")
    parser.add_argument(
        "--since", metavar="TIME", required=True, help="first moment counted (ISO 8601)"
    )
    parser.add_argument(
        "--until", metavar="TIME", required=True, help="end of the range, not counted (ISO 8601)"
    )
    parser.add_argument(
        "--by",
        choices=api.REPORT_DIMENSIONS,
        default="day",
        help="group by local day (in --tz), actor, model or model.field (default: day)",
    )
    parser.add_argument(
        "--chart",
        metavar="FILE",
        help="also write the changes over time to FILE.svg (bars per day, week or month)",
    )
    parser.set_defaults(handler=run_report)


def _engine(context: CommandContext) -> sa.Engine:
    engine = context.engine
    migrate.require_head(engine)
    return engine


def run_history(context: CommandContext, args: argparse.Namespace) -> int:
    renderer = make_renderer(context, args, display_zone(args))
    check_model_name(args.model)
    changes = api.history(
        _engine(context), args.model, args.id, newest_first=args.order == "newest"
    )
    write_changes(renderer, changes, with_row=False)
    return 0


def run_who_changed(context: CommandContext, args: argparse.Namespace) -> int:
    renderer = make_renderer(context, args, display_zone(args))
    check_model_name(args.model)
    changes = api.who_changed(
        _engine(context), args.model, args.id, args.field, newest_first=args.order == "newest"
    )
    write_changes(renderer, changes, with_row=False)
    return 0


def run_show(context: CommandContext, args: argparse.Namespace) -> int:
    zone = display_zone(args)
    renderer = make_renderer(context, args, zone)
    check_model_name(args.model)
    at = None if args.at is None else parse_time(args.at, zone, option="--at")
    write_state(renderer, api.row_at(_engine(context), args.model, args.id, at=at))
    return 0


def run_changes(context: CommandContext, args: argparse.Namespace) -> int:
    zone = display_zone(args)
    renderer = make_renderer(context, args, zone)
    since = None if args.since is None else parse_time(args.since, zone, option="--since")
    until = None if args.until is None else parse_time(args.until, zone, option="--until")
    check_time_range(since, until)
    if args.model is not None:
        check_model_name(args.model)
    if args.follow and renderer.format == "json":
        raise UsageError(
            "--follow prints a stream, which --format json cannot hold",
            "use --format jsonl, csv or table",
        )
    engine = _engine(context)

    def fetch(after: int | None) -> ChangePage:
        return api.changes(
            engine,
            since=since,
            until=until,
            model=args.model,
            actor=args.actor,
            field=args.field,
            event_id=args.event_id,
            after_transaction=after,
            limit=args.limit,
        )

    if not args.follow:
        write_page(renderer, fetch(args.after_transaction))
        return 0

    def write(page: ChangePage, first: bool) -> None:
        write_page(renderer, page, with_header=first)

    follow(fetch, write, after=args.after_transaction, interval=args.interval, out=context.out)
    return 0


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def run_revert(context: CommandContext, args: argparse.Namespace) -> int:
    renderer = make_renderer(context, args, display_zone(args))
    check_model_name(args.model)
    result = api.revert(
        _engine(context),
        args.model,
        args.id,
        to_transaction=args.to,
        actor=args.actor or _login_name(),
        reason=args.reason,
        dry_run=args.dry_run,
    )
    write_revert(renderer, result)
    return 0


def run_report(context: CommandContext, args: argparse.Namespace) -> int:
    zone = display_zone(args)
    renderer = make_renderer(context, args, zone)
    since = parse_time(args.since, zone, option="--since")
    until = parse_time(args.until, zone, option="--until")
    check_time_range(since, until)
    chart = None if args.chart is None else check_chart_path(args.chart)
    shown = zone or ZoneInfo("UTC")
    with api.reading(_engine(context)) as snapshot:  # the chart counts what the report counts
        report = api.report(snapshot, since=since, until=until, by=args.by, tz=shown)
        by_day = report
        if chart is not None and args.by != "day":
            by_day = api.report(snapshot, since=since, until=until, tz=shown)
    if chart is not None:
        bucket = bucket_for(since, until, shown)
        bars = bucket_counts(by_day.rows, since, until, shown, bucket)
        first, last = bars[0].start.isoformat(), bars[-1].start.isoformat()
        write_chart(chart, bars, bucket, f"Changes per {bucket}, {first} to {last} ({shown.key})")
        # On stderr: stdout may be the report in a format a script reads.
        print(
            f"chart of changes per {bucket} written to {escape(str(chart.resolve()))}",
            file=context.err,
        )
    write_report(renderer, report)
    return 0
