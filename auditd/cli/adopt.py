"""Capture commands: ``adopt`` (put an existing database under audit)."""

from __future__ import annotations

import argparse
from typing import Any

from auditd.adoption.adopt import (
    DEFAULT_BATCH_SIZE,
    AdoptionResult,
    BatchDone,
    TableAdoption,
    adopt,
)
from auditd.adoption.legacy import LEGACY_TABLE, LegacyImport, check_import, import_legacy
from auditd.cli.cells import escape, plural
from auditd.cli.context import CommandContext
from auditd.cli.progress import progress_line
from auditd.errors import UsageError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "adopt",
        help="put an existing database (e.g. Open Event Server's) under audit",
        description=(
            "Create version tables from the live columns, the audit tables and the capture"
            " triggers, write one baseline version per existing row and repair"
            " last_modified_at. Safe to interrupt and to run again."
        ),
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="ROWS",
        help=f"rows per batch, each its own transaction (default: {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--max-batches",
        type=int,
        metavar="N",
        help="stop after N batches (run again to continue), e.g. to adopt in quiet hours",
    )
    parser.add_argument(
        "--actor", help="recorded as the actor of the baseline (and import) transaction"
    )
    parser.add_argument(
        "--import-legacy",
        action="store_true",
        help="also import Open Event's own history of events (its transaction and"
        " events_version tables) as the history before the baseline",
    )
    parser.add_argument(
        "--legacy-timezone",
        metavar="ZONE",
        help="IANA zone Open Event's naive issued_at times were written in (required with"
        " --import-legacy), e.g. UTC or Asia/Singapore",
    )
    parser.set_defaults(handler=run_adopt)


def _check_legacy_options(args: argparse.Namespace) -> None:
    if args.import_legacy and not args.legacy_timezone:
        raise UsageError(
            "--import-legacy needs --legacy-timezone",
            "name the zone Open Event's issued_at times were written in, e.g. UTC",
        )
    if args.legacy_timezone and not args.import_legacy:
        raise UsageError("--legacy-timezone is only used with --import-legacy")


def run_adopt(context: CommandContext, args: argparse.Namespace) -> int:
    _check_legacy_options(args)
    if args.import_legacy:
        check_import(context.engine, args.legacy_timezone)
    done: dict[tuple[str, str], int] = {}
    with progress_line("adopt", stream=context.err) as update:

        def progress(batch: BatchDone) -> None:
            # One line for the table at hand: rows walked of its total, rate, ETA.
            key = (batch.phase, batch.table)
            done[key] = done.get(key, 0) + batch.walked
            update(done[key], batch.total, label=f"{batch.phase} {escape(batch.table)}")

        result = adopt(
            context.engine,
            batch_size=args.batch_size,
            max_batches=args.max_batches,
            actor=args.actor,
            progress=progress,
        )
    context.out.write(render_adoption(result))
    if args.import_legacy and result.complete:
        with progress_line("import", unit="transactions", stream=context.err) as update:
            imported = import_legacy(
                context.engine,
                zone=args.legacy_timezone,
                actor=args.actor,
                batch_size=args.batch_size,
                progress=lambda count, total: update(count, total, label="legacy history"),
            )
        context.out.write(render_import(imported, args.legacy_timezone))
    elif args.import_legacy:
        context.out.write("legacy history: not imported yet (adoption not complete)\n")
    return 0


def render_import(result: LegacyImport, zone: str) -> str:
    """The lines ``audittrail adopt --import-legacy`` prints about the import."""
    if result.already_imported:
        lines = [
            "legacy history: already imported"
            f" (import transaction {result.import_transaction_id}), nothing to do"
        ]
    else:
        lines = [
            f"legacy history: imported {plural(result.transactions, 'transaction')}"
            f" and {plural(result.versions, 'version')} of {LEGACY_TABLE},"
            f" issued_at read in {escape(zone)};"
            f" import transaction {result.import_transaction_id}"
        ]
    lines += [
        f"legacy column not imported (no longer in {LEGACY_TABLE}): {escape(column)}"
        for column in result.skipped_columns
    ]
    if result.missing_columns:
        lines.append(
            "columns without values in the legacy versions (NULL): "
            + ", ".join(escape(c) for c in result.missing_columns)
        )
    return "\n".join(lines) + "\n"


def _notes(table: TableAdoption) -> str:
    notes = []
    if table.created_version_table:
        notes.append("created version table")
    if table.added_version_columns:
        notes.append("versions now cover " + ", ".join(map(escape, table.added_version_columns)))
    if table.added_stamp_column:
        notes.append("added last_modified_at")
    if table.installed_triggers:
        notes.append("installed triggers")
    return "; ".join(notes) or "-"


def render_adoption(result: AdoptionResult) -> str:
    """The summary ``audittrail adopt`` prints."""
    header = ("table", "version table", "columns", "baseline", "stamps", "changes")
    rows = [
        (
            escape(t.table),
            escape(t.version_table),
            str(len(t.columns)),
            str(t.baseline_versions),
            str(t.stamps_repaired),
            _notes(t),
        )
        for t in result.tables
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in [header, *rows]
    ]
    untouched = ", ".join(escape(name) for name in result.untouched_tables) or "none"
    lines += [
        f"left untouched (not versioned): {untouched}",
        f"baseline transaction: {result.baseline_transaction_id}",
        f"schema revision: {result.revision}",
    ]
    if not result.complete:
        lines.append(
            f"stopped after {plural(result.batches, 'batch', 'batches')}:"
            " run `audittrail adopt` again to continue"
        )
    elif result.changed:
        lines.append("adoption complete")
    else:
        lines.append("nothing to do: this database is already adopted")
    return "\n".join(lines) + "\n"
