"""``audittrail roles``: set up or check the PostgreSQL role layout."""

from __future__ import annotations

import argparse
from typing import Any

from auditd import privileges
from auditd.cli.context import CommandContext


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "roles",
        help="create or check the PostgreSQL role layout (owner, writers, daemon, reader)",
    )
    parser.add_argument(
        "--app-role",
        action="append",
        required=True,
        metavar="ROLE",
        help="an application role that writes the live tables (repeat for several)",
    )
    parser.add_argument(
        "--reader-role", required=True, metavar="ROLE", help="the read-only role for operators"
    )
    parser.add_argument("--daemon-role", metavar="ROLE", help="the role `serve` logs in as")
    parser.add_argument(
        "--owner-role",
        default=privileges.DEFAULT_OWNER_ROLE,
        metavar="ROLE",
        help="the audit owner, created NOLOGIN if missing (default: %(default)s)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the SQL it would run and change nothing"
    )
    parser.set_defaults(handler=run_roles)


def run_roles(context: CommandContext, args: argparse.Namespace) -> int:
    layout = privileges.RoleLayout(
        owner=args.owner_role,
        app_roles=tuple(args.app_role),
        reader=args.reader_role,
        daemon=args.daemon_role,
    )
    result = privileges.apply(context.engine, layout, dry_run=args.dry_run)
    for statement in result.statements:
        print(f"{statement};", file=context.out)
    verb = "would run" if result.dry_run else "ran"
    print(
        f"-- {verb} {len(result.statements)} statements"
        + (" (dry run, nothing changed)" if result.dry_run else ""),
        file=context.out,
    )
    return 0
