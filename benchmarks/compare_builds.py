"""Capture cost of two builds side by side: ``python -m benchmarks.compare_builds OTHER``.

A change to the generated capture SQL changes what every write costs. This
runs the capture benchmark (:func:`benchmarks.capture.run_backend`) of
another checkout (``OTHER``, with its own ``.venv``, e.g. the previous
release) and of this one in turn, round after round in one run, and prints
each workload's ratio to plain writes for both, so that the machine's load
at the time weighs on both alike. Each build measures its own capture
against its own plain table on its own throwaway database.

    python -m benchmarks.compare_builds ../previous --backend postgresql --rows 2000 \\
        --repetitions 3 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# Run inside each build's interpreter: that build's capture benchmark.
_ONE_RUN = """
import json, sys
from benchmarks import capture
for figure in capture.run_backend(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "capture"):
    print(json.dumps({"subject": figure.subject, "ratio": figure.ratio}))
"""


def _run(checkout: Path, backend: str, rows: int, repetitions: int) -> dict[str, float]:
    python = checkout / ".venv" / "bin" / "python"
    result = subprocess.run(
        [str(python), "-c", _ONE_RUN, backend, str(rows), str(repetitions)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    figures = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {figure["subject"]: figure["ratio"] for figure in figures}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_builds")
    parser.add_argument("other", type=Path, help="the other checkout (with its .venv)")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    builds = {"other": args.other.resolve(), "this": Path(__file__).resolve().parent.parent}
    ratios: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, checkout in builds.items():
            for subject, ratio in _run(checkout, args.backend, args.rows, args.repetitions).items():
                ratios.setdefault((subject, name), []).append(ratio)
    subjects = dict.fromkeys(subject for subject, _ in ratios)
    print(f"| {args.backend}, {args.rows:,} row updates | other build | this build |")
    print("|---|---|---|")
    for subject in subjects:
        cells = [
            f"{statistics.median(ratios[(subject, name)]):.2f}x"
            f" ({', '.join(f'{r:.2f}' for r in ratios[(subject, name)])})"
            for name in builds
        ]
        print(f"| {subject} | {cells[0]} | {cells[1]} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
