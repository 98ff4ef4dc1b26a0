"""Daemon commands: serve, jobs, reconcile, verify."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any, TextIO

from auditd import migrate
from auditd.cli.context import CommandContext
from auditd.daemon import service
from auditd.daemon.jobs import JobOverview, job_overview, run_job
from auditd.daemon.runner import ProgressCallback
from auditd.daemon.runs import RunRecord
from auditd.daemon.signals import SIGNALS


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the daemon in the foreground: sync, reconcile and verify on their schedules",
    )
    parser.set_defaults(handler=run_serve)

    parser = commands.add_parser("jobs", help="list each job's schedule, last run and next run")
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
    parser.set_defaults(handler=run_verify)


def run_serve(context: CommandContext, args: argparse.Namespace) -> int:
    # SIGHUP re-reads the configuration from the same file, environment and flags.
    return service.serve(context.settings, lambda: CommandContext(args).settings, SIGNALS)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def _describe_run(run: RunRecord | None) -> str:
    if run is None:
        return "never"
    duration = f", {run.duration_seconds:.1f}s" if run.duration_seconds is not None else ""
    counts = f"{run.rows_scanned} scanned, {run.rows_repaired} repaired"
    if run.job == "verify":
        counts = f"{run.rows_scanned} scanned, {run.rows_drifted} drifted"
    return f"{run.status} {_when(run.started_at)}{duration}: {counts}"


def _render_jobs(overview: list[JobOverview], out: TextIO) -> None:
    rows = [("JOB", "SCHEDULE", "LAST RUN", "NEXT RUN")]
    for item in overview:
        schedule = item.settings.describe() + ("" if item.settings.enabled else " (disabled)")
        rows.append((item.job, schedule, _describe_run(item.last_run), _when(item.next_run)))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3]]), file=out)
    for item in overview:
        if item.watermark is not None:
            print(f"\nsync watermark: transaction {item.watermark}", file=out)
        if item.last_run is not None and item.last_run.error:
            print(f"{item.job} last error: {item.last_run.error}", file=out)


def run_jobs(context: CommandContext, args: argparse.Namespace) -> int:
    migrate.require_head(context.engine)
    _render_jobs(job_overview(context.engine, context.settings), context.out)
    return 0


class _ProgressBar:
    """``job: 1200/3000 rows (40%)`` redrawn on stderr, at most ten times a second."""

    def __init__(self, job: str, err: TextIO) -> None:
        self._job = job
        self._err = err
        self._shown = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._shown < 0.1 and (total is None or done < total):
            return
        self._shown = now
        share = f" ({100 * done // total}%)" if total else ""
        total_text = f"/{total}" if total is not None else ""
        self._err.write(f"\r{self._job}: {done}{total_text} rows{share}")
        self._err.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self._err.write("\n")
            self._err.flush()


def _run(context: CommandContext, job: str, *, dry_run: bool = False) -> RunRecord:
    migrate.require_head(context.engine)
    bar = _ProgressBar(job, context.err) if context.out.isatty() else None
    progress: ProgressCallback | None = bar
    try:
        record = run_job(context.engine, context.settings, job, dry_run=dry_run, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    assert record is not None  # manual runs always run or raise
    return record


def run_reconcile(context: CommandContext, args: argparse.Namespace) -> int:
    job = "reconcile" if args.full else "sync"
    run = _run(context, job, dry_run=args.dry_run)
    scope = "every row" if args.full else "rows changed since the last sync"
    if run.status == "failed":
        print(f"error: {job} failed: {run.error} (run {run.id})", file=context.err)
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
    run = _run(context, "verify")
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
