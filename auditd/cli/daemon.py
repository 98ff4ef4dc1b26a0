"""Daemon commands: serve, jobs, reconcile, verify."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from auditd import migrate
from auditd.cli.context import CommandContext
from auditd.cli.output import display_zone, make_renderer, output_options
from auditd.cli.progress import progress_line
from auditd.cli.render_jobs import write_jobs
from auditd.daemon import service
from auditd.daemon.jobs import job_overview, run_job
from auditd.daemon.runs import RunRecord
from auditd.daemon.signals import SIGNALS
from auditd.errors import IntegrityError, UsageError
from auditd.ledger import read_digest_file, reader_count, verify_integrity

# How many findings `verify --integrity` prints after the first broken block.
SHOWN_PROBLEMS = 20


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the daemon in the foreground: every enabled job on its schedule",
    )
    parser.set_defaults(handler=run_serve)

    parser = commands.add_parser(
        "jobs",
        parents=[output_options()],
        help="list each job's schedule, last run and next run",
    )
    parser.set_defaults(handler=run_jobs)

    parser = commands.add_parser(
        "reconcile",
        help="repair last_modified_at once: rows changed since the last sync, or every row",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="re-derive every row (the nightly job), not only changes",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be repaired; change nothing"
    )
    parser.set_defaults(handler=run_reconcile)

    parser = commands.add_parser(
        "verify",
        help="count drift and check change capture; exit 1 if anything is wrong",
    )
    parser.add_argument(
        "--integrity",
        action="store_true",
        help="instead, recompute the sealed ledger and the version linkage (exit 9 if broken)",
    )
    parser.add_argument(
        "--digests",
        metavar="FILE",
        type=Path,
        help="with --integrity: digests stored outside the database, one JSON line each",
    )
    parser.set_defaults(handler=run_verify)


def run_serve(context: CommandContext, args: argparse.Namespace) -> int:
    # SIGHUP re-reads the configuration from the same file, environment and flags.
    return service.serve(context.settings, lambda: CommandContext(args).settings, SIGNALS)


def run_jobs(context: CommandContext, args: argparse.Namespace) -> int:
    renderer = make_renderer(context, args, display_zone(args))
    migrate.require_head(context.engine)
    write_jobs(renderer, job_overview(context.engine, context.settings))
    return 0


def run_manually(context: CommandContext, job: str, *, dry_run: bool = False) -> RunRecord:
    """Run ``job`` once now, with the progress line on a terminal; its record."""
    migrate.require_head(context.engine)
    with progress_line(job, stream=context.err) as progress:
        record = run_job(context.engine, context.settings, job, dry_run=dry_run, progress=progress)
    assert record is not None  # manual runs always run or raise
    return record


def run_reconcile(context: CommandContext, args: argparse.Namespace) -> int:
    job = "reconcile" if args.full else "sync"
    run = run_manually(context, job, dry_run=args.dry_run)
    scope = "every row" if args.full else "rows changed since the last sync"
    if run.status == "failed":
        locate = ""
        if run.findings().get("broken_linkage"):
            locate = "; run `audittrail verify --integrity` to locate the change"
        print(f"error: {job} failed: {run.error} (run {run.id}){locate}", file=context.err)
        return 1
    if args.dry_run:
        print(
            f"dry run over {scope}: {run.rows_drifted} of {run.rows_scanned} rows would be "
            f"repaired ({run.rows_unversioned} without history, left alone)",
            file=context.out,
        )
        return 0
    print(
        f"{job} over {scope}: repaired {run.rows_repaired} of {run.rows_scanned} rows; "
        f"{run.rows_skipped} locked by other writers, left for later; "
        f"{run.rows_unversioned} without history, left alone (run {run.id}, {run.status})",
        file=context.out,
    )
    return 0


def run_verify(context: CommandContext, args: argparse.Namespace) -> int:
    if args.digests is not None and not args.integrity:
        raise UsageError(
            "--digests needs --integrity", "audittrail verify --integrity --digests FILE"
        )
    if args.integrity:
        return _verify_integrity(context, args.digests)
    run = run_manually(context, "verify")
    if run.status == "failed":
        print(f"error: verify failed: {run.error} (run {run.id})", file=context.err)
        return 1
    findings = run.findings()
    problems: list[str] = findings.get("capture_problems", [])
    print(
        f"verify: {run.rows_drifted} of {run.rows_scanned} rows drifted; "
        f"{run.rows_unversioned} without history (run {run.id})",
        file=context.out,
    )
    for table, keys in findings.get("drifted_keys", {}).items():
        if keys:
            shown = ", ".join(str(key) for key in keys)
            print(f"  drifted {table}: {shown}", file=context.out)
    for problem in problems:
        print(f"  capture problem: {problem}", file=context.out)
    if run.rows_drifted or problems:
        print("problems found: run `audittrail reconcile --full` to repair drift", file=context.out)
        return 1
    print("no drift, change capture complete", file=context.out)
    return 0


def _verify_integrity(context: CommandContext, digests_file: Path | None) -> int:
    digests = () if digests_file is None else read_digest_file(digests_file)
    migrate.require_head(context.engine)
    readers = reader_count(context.settings.ledger.readers)
    report = verify_integrity(context.engine, digests, readers=readers)
    print(
        f"integrity: {report.blocks} blocks, {report.transactions} transactions and "
        f"{report.versions} versions sealed, {report.pruned} elements pruned, "
        f"{report.unsealed_transactions} transactions not sealed yet, "
        f"{report.digests_checked} external digests compared",
        file=context.out,
    )
    if report.intact:
        print("ledger, history and linkage intact", file=context.out)
        return 0
    for problem in report.problems[:SHOWN_PROBLEMS]:
        print(f"  {problem}", file=context.out)
    if len(report.problems) > SHOWN_PROBLEMS:
        print(f"  ... and {len(report.problems) - SHOWN_PROBLEMS} more", file=context.out)
    first = report.problems[0]
    raise IntegrityError(
        f"integrity broken: first at {first}",
        "the audit rows were changed outside capture; see docs/integrity.md",
    )
