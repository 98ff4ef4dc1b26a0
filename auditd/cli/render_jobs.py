"""Output of ``audittrail jobs`` in the four formats of the history commands.

JSON objects are :class:`~auditd.daemon.jobs.JobOverview` field by field
(the schedule's settings and the last run's record nested); CSV flattens
them to one line per job; the table is for people, with the sync
watermark and each job's last error as notes below it.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditd.cli.cells import plural
from auditd.cli.render import Renderer
from auditd.daemon.jobs import JobOverview
from auditd.daemon.runs import RunRecord

CSV_JOB_COLUMNS = (
    "job",
    "schedule",
    "enabled",
    "next_run",
    "last_status",
    "last_started_at",
    "last_finished_at",
    "last_rows_scanned",
    "last_rows_drifted",
    "last_rows_repaired",
    "last_rows_skipped",
    "last_error",
    "watermark",
)


def _schedule(item: JobOverview) -> str:
    return item.settings.describe() + ("" if item.settings.enabled else " (disabled)")


def _describe_run(renderer: Renderer, run: RunRecord | None) -> str:
    if run is None:
        return "never"
    duration = f", {run.duration_seconds:.1f}s" if run.duration_seconds is not None else ""
    if run.job == "verify":
        counts = f"{plural(run.rows_scanned, 'row')} scanned, {run.rows_drifted} drifted"
    elif run.job == "seal":
        counts = f"{plural(run.rows_scanned, 'version')} sealed"
    elif run.job == "prune":
        counts = f"{plural(run.rows_scanned, 'version')} removed"
    else:
        counts = f"{plural(run.rows_scanned, 'row')} scanned, {run.rows_repaired} repaired"
    started = renderer.time(run.started_at, table=True)
    return f"{renderer.cell(run.status)} {started}{duration}: {counts}"


def _csv_row(renderer: Renderer, item: JobOverview) -> list[str]:
    run = item.last_run
    last = [
        None if run is None else getattr(run, name)
        for name in (
            "status",
            "started_at",
            "finished_at",
            "rows_scanned",
            "rows_drifted",
            "rows_repaired",
            "rows_skipped",
            "error",
        )
    ]
    values = [
        item.job,
        _schedule(item),
        item.settings.enabled,
        item.next_run,
        *last,
        item.watermark,
    ]
    return [renderer.cell(value) for value in values]


def write_jobs(renderer: Renderer, overview: Sequence[JobOverview]) -> None:
    """Each job's schedule, last run and next run."""
    if renderer.format == "json":
        renderer.write_json(overview)
    elif renderer.format == "jsonl":
        renderer.write_jsonl(overview)
    elif renderer.format == "csv":
        renderer.write_rows(CSV_JOB_COLUMNS, [_csv_row(renderer, item) for item in overview])
    else:
        rows = [
            [
                item.job,
                renderer.cell(_schedule(item)),
                _describe_run(renderer, item.last_run),
                renderer.cell(item.next_run),
            ]
            for item in overview
        ]
        renderer.write_rows(["job", "schedule", "last run", "next run"], rows, rank=[0, 1, 1, 0])
        for item in overview:
            if item.watermark is not None:
                renderer.note(f"sync watermark: transaction {item.watermark}")
            if item.last_run is not None and item.last_run.error:
                renderer.note(f"{item.job} last error: {renderer.cell(item.last_run.error)}")
