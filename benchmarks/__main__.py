"""One benchmark command: ``python -m benchmarks --scale small|medium|large``.

For each backend it measures, each figure side by side with its baseline in
the same run (alternating, medians of several runs):

* capture: plain writes against our capture, SQLAlchemy-Continuum's ORM
  versioning and Continuum's native triggers (each Continuum mode in a
  process of its own), one row and 500 rows per transaction and one 500-row
  statement (small and medium scales; capture cost does not depend on the
  size of the history);
* full reconcile and verify against the one-statement floor, and sync after
  1% of the rows changed against a full reconcile, on history of both
  shapes (one transaction per version; few transactions touching many rows);
* the sealed ledger: sealing all history and ``verify --integrity``
  against a bare scan of the same transaction and version rows;
* history, who-changed and show-at against their raw-SQL floors;
* the daemon: idle RSS, peak RSS of a full reconcile, commit-to-repair lag.

and writes the results into ``docs/benchmarks.md`` (``--output``). The
``small`` scale is the smoke run of ``.ci/run``: it asserts nothing about
time. PostgreSQL is the server the tests use (``AUDITTRAIL_BENCH_POSTGRES_URL``
overrides its admin URL).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from auditd.config import load_settings
from auditd.logging import configure_logging
from benchmarks import capture, daemon, history, ledger, report, stamps
from benchmarks.capture import throwaway_database
from benchmarks.dataset import SHAPES, Dataset, build
from benchmarks.measure import Figure, Value


@dataclass(frozen=True, kw_only=True)
class Scale:
    sessions: int
    versions: int
    capture_rows: int | None  # None: capture is not measured at this scale
    history_calls: int
    repetitions: int
    backends: tuple[str, ...]


SCALES = {
    "small": Scale(
        sessions=2_000,
        versions=10,
        capture_rows=500,
        history_calls=40,
        repetitions=2,
        backends=("postgresql", "sqlite"),
    ),
    "medium": Scale(
        sessions=200_000,
        versions=10,
        capture_rows=2_000,
        history_calls=300,
        repetitions=3,
        backends=("postgresql", "sqlite"),
    ),
    "large": Scale(
        sessions=1_000_000,
        versions=10,
        capture_rows=None,
        history_calls=300,
        repetitions=3,
        backends=("postgresql",),
    ),
}
CONTINUUM_MODES = {"orm": "Continuum ORM versioning", "native": "Continuum native triggers"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _continuum(mode: str, backend: str, rows: int, repetitions: int) -> list[Figure]:
    """Continuum's figures, from a process of its own (it patches mappers globally)."""
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.continuum",
            f"--mode={mode}",
            f"--backend={backend}",
            f"--rows={rows}",
            f"--repetitions={repetitions}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = []
    for label, result in json.loads(output).items():
        written = result["versions_written"]
        figures.append(
            Figure(
                group=f"capture ({rows:,} row updates)",
                subject=label,
                baseline="plain",
                samples=tuple(result["versioned"]),
                baseline_samples=tuple(result["plain"]),
                note=CONTINUUM_MODES[mode]
                + ("" if written else "; it wrote no version for these writes"),
            )
        )
    return figures


def measure_capture(backend: str, scale: Scale) -> list[Figure]:
    assert scale.capture_rows is not None
    rows, repetitions = scale.capture_rows, scale.repetitions
    group = f"capture ({rows:,} row updates)"
    log(f"capture on {backend}: ours")
    figures = capture.run_backend(backend, rows, repetitions, group)
    modes = ("orm", "native") if backend == "postgresql" else ("orm",)
    for mode in modes:
        log(f"capture on {backend}: {CONTINUUM_MODES[mode]}")
        figures += _continuum(mode, backend, rows, repetitions)
    return sorted(figures, key=lambda figure: figure.subject)


def measure_history_data(
    backend: str, scale: Scale, shape: str
) -> tuple[list[Figure], list[Value], str]:
    """Build a database of ``shape`` and measure what reads it."""
    dataset = Dataset(sessions=scale.sessions, versions=scale.versions, shape=shape)
    figures: list[Figure] = []
    values: list[Value] = []
    with throwaway_database(backend) as engine:
        log(f"building {dataset.describe()} on {backend}")
        started = time.perf_counter()
        build(engine, dataset, log=log)
        log(f"  built in {time.perf_counter() - started:.0f} s")
        url = engine.url.render_as_string(hide_password=False)
        settings = load_settings(
            environ={},
            overrides={"database.url": url, "database.statement_timeout_seconds": "3600"},
        )
        log(f"full passes and sync ({shape})")
        figures += stamps.measure(engine, settings, scale.repetitions, f"stamps, {shape} history")
        log(f"ledger: seal and verify --integrity ({shape})")
        figures += ledger.measure(engine, scale.repetitions, f"ledger, {shape} history")
        if shape == "spread":
            log("history calls")
            figures += history.measure(engine, dataset, scale.history_calls, "history")
            log("daemon")
            values += daemon.measure(url, "daemon")
    return figures, values, dataset.describe()


def _postgresql_version() -> str | None:
    try:
        engine = sa.create_engine(capture.ADMIN_URL, poolclass=sa.NullPool)
        with engine.connect() as connection:
            return str(connection.exec_driver_sql("SHOW server_version").scalar_one())
    except sa.exc.OperationalError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=tuple(SCALES), default="small")
    parser.add_argument(
        "--backend",
        action="append",
        choices=("postgresql", "sqlite"),
        help="repeat for both (default: the scale's backends)",
    )
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args()
    configure_logging("warning", "console", stream=sys.stderr)  # the jobs' run logs are noise here
    scale = SCALES[args.scale]
    host = report.machine(_postgresql_version())
    for backend in args.backend or scale.backends:
        command = f"python -m benchmarks --scale {args.scale} --backend {backend}"
        figures: list[Figure] = []
        values: list[Value] = []
        descriptions = []
        if scale.capture_rows is not None:
            figures += measure_capture(backend, scale)
        for shape in SHAPES:
            shape_figures, shape_values, description = measure_history_data(backend, scale, shape)
            figures += shape_figures
            values += shape_values
            descriptions.append(description)
        text = report.block(
            args.scale, backend, command, "; ".join(descriptions), host, figures, values
        )
        report.write(args.output, args.scale, backend, text)
        print(text, flush=True)


if __name__ == "__main__":
    main()
