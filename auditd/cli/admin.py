"""Set-up commands: migrate, check-config, demo."""

from __future__ import annotations

import argparse
from typing import Any

from auditd import migrate as migrations
from auditd.cli.context import CommandContext
from auditd.config import render_settings
from auditd.demo import load_demo


def register(commands: Any) -> None:
    parser = commands.add_parser("migrate", help="upgrade (or downgrade) the database schema")
    parser.add_argument(
        "--revision",
        default="head",
        help="target revision (default: head; required with --downgrade)",
    )
    parser.add_argument(
        "--downgrade", action="store_true", help="downgrade to --revision (e.g. base) instead"
    )
    parser.set_defaults(handler=run_migrate)

    parser = commands.add_parser(
        "check-config", help="validate and print the effective configuration (secrets masked)"
    )
    parser.set_defaults(handler=run_check_config)

    parser = commands.add_parser("demo", help="load a small demo event with a history of edits")
    parser.set_defaults(handler=run_demo)


def run_migrate(context: CommandContext, args: argparse.Namespace) -> int:
    engine = context.open_engine(create=True)
    before = migrations.current_revision(engine)
    if args.downgrade:
        after = migrations.downgrade(engine, args.revision)
    else:
        after = migrations.upgrade(engine, args.revision)
    where = context.settings.database.masked_url()
    if before == after:
        print(f"schema already at {after or 'empty'}, nothing to do ({where})", file=context.out)
    else:
        print(f"schema: {before or 'empty'} -> {after or 'empty'} ({where})", file=context.out)
    return 0


def run_check_config(context: CommandContext, args: argparse.Namespace) -> int:
    context.out.write(render_settings(context.settings))
    return 0


def run_demo(context: CommandContext, args: argparse.Namespace) -> int:
    migrations.require_head(context.engine)
    result = load_demo(context.engine)
    if result.loaded:
        print(f"demo event {result.event_id} loaded with its history of edits", file=context.out)
    else:
        print(f"demo event {result.event_id} already loaded", file=context.out)
    return 0
