"""Timing one thing against its baseline, side by side, and the figures that result.

These machines are shared and noisy: a figure is only meaningful next to
its baseline measured in the same run. :func:`alternate` runs baseline and
subject in turn, several times, and keeps every sample; a :class:`Figure`
reports medians, the range and the ratio of the medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One line of the report: ``subject`` measured against ``baseline``."""

    group: str
    subject: str
    baseline: str
    samples: tuple[float, ...]
    baseline_samples: tuple[float, ...]
    unit: str = "s"
    target: float | None = None  # the largest acceptable ratio
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline_samples)

    @property
    def ratio(self) -> float:
        return self.median / self.baseline_median if self.baseline_median else float("inf")

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "met" if self.ratio <= self.target else "missed"


@dataclass(frozen=True, kw_only=True)
class Value:
    """A figure without a baseline (a memory size, a lag)."""

    group: str
    subject: str
    samples: tuple[float, ...]
    unit: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def alternate(
    repetitions: int,
    baseline: Callable[[], object],
    subject: Callable[[], object],
    *,
    prepare: Callable[[], object] | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(baseline seconds, subject seconds)``, each run ``repetitions`` times in
    turn; ``prepare`` runs untimed before each subject run."""
    baseline_times, subject_times = [], []
    for _ in range(repetitions):
        baseline_times.append(timed(baseline))
        if prepare is not None:
            prepare()
        subject_times.append(timed(subject))
    return tuple(baseline_times), tuple(subject_times)


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.95 for p95) of at least two samples."""
    return statistics.quantiles(samples, n=100, method="inclusive")[round(fraction * 100) - 1]
