"""Ledger commands: seal, digest, prune (``verify --integrity`` is in :mod:`.daemon`)."""

from __future__ import annotations

import argparse
from typing import Any

from auditd import migrate
from auditd.cli.context import CommandContext
from auditd.cli.daemon import run_manually
from auditd.errors import ConfigError
from auditd.ledger import latest_digest


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "seal", help="seal committed history into the ledger now (what the seal job does)"
    )
    parser.set_defaults(handler=run_seal)

    parser = commands.add_parser(
        "digest", help="print the latest ledger block's digest as one JSON line"
    )
    parser.set_defaults(handler=run_digest)

    parser = commands.add_parser(
        "prune", help="remove sealed history older than retention.keep_days, recorded in the ledger"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be removed; change nothing"
    )
    parser.set_defaults(handler=run_prune)


def run_seal(context: CommandContext, args: argparse.Namespace) -> int:
    run = run_manually(context, "seal")
    if run.status == "failed":
        print(f"error: seal failed: {run.error} (run {run.id})", file=context.err)
        return 1
    findings = run.findings()
    blocks = findings.get("blocks_sealed", 0)
    print(
        f"sealed {findings.get('transactions_sealed', 0)} transactions "
        f"({findings.get('versions_sealed', 0)} versions) in {blocks} blocks (run {run.id})",
        file=context.out,
    )
    if not blocks:
        print("nothing new to seal behind the commit horizon", file=context.out)
    return 0


def run_digest(context: CommandContext, args: argparse.Namespace) -> int:
    migrate.require_head(context.engine)
    with context.engine.connect() as connection:
        digest = latest_digest(connection)
    print(digest.to_json(), file=context.out)
    return 0


def run_prune(context: CommandContext, args: argparse.Namespace) -> int:
    retention = context.settings.retention
    if not retention.enabled:
        raise ConfigError(
            "retention is off (retention.keep_days is 0): prune needs a window",
            "set retention.keep_days (or AUDITD_RETENTION_KEEP_DAYS) to the days to keep",
        )
    run = run_manually(context, "prune", dry_run=args.dry_run)
    if run.status == "failed":
        print(f"error: prune failed: {run.error} (run {run.id})", file=context.err)
        return 1
    findings = run.findings()
    cutoff = findings.get("cutoff")
    versions, transactions = (
        findings.get("versions_removed", 0),
        findings.get("transactions_removed", 0),
    )
    if args.dry_run:
        print(
            f"dry run: {versions} versions in {transactions} transactions issued before "
            f"{cutoff} would be removed (each row's current version and the one its "
            "last_modified_at derives from are kept)",
            file=context.out,
        )
        return 0
    print(
        f"pruned {versions} versions and {transactions} transactions issued before {cutoff}, "
        f"recorded in {findings.get('prune_blocks', 0)} prune blocks (run {run.id})",
        file=context.out,
    )
    return 0
