"""The sealed ledger: sealing and ``verify --integrity`` against a bare scan.

The baseline is the least any pass over the history must do: read every
transaction row and every version row of every registered version table
once, in one snapshot, through the same driver (a sequential scan streamed
to the client). Sealing adds the canonical serialisation, the digests, the
link probes and the block writes; verification adds the same recomputation
plus the linkage checks. Each figure's note gives versions per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from auditd.config.sections import LedgerSettings
from auditd.ledger import seal, verify_integrity
from auditd.ledger.canonical import version_table
from auditd.models.audit import TRANSACTION
from auditd.models.ledger import LEDGER_BLOCK
from auditd.registry import load
from auditd.stamps.horizon import read_horizon
from benchmarks.measure import Figure, alternate

TARGET = 3.0
BLOCK_SIZE = LedgerSettings().block_size  # the default a deployment seals with
HORIZON_WAIT_SECONDS = 300.0


def _scan(engine: sa.Engine) -> Callable[[], object]:
    """Every transaction and version row, fetched in one snapshot."""

    def run() -> int:
        rows = 0
        options = {"yield_per": 10_000}
        with engine.connect() as connection:
            for entry in load(connection).entries:
                result = connection.execution_options(**options).execute(
                    sa.select(version_table(entry))
                )
                rows += sum(1 for _ in result)
            result = connection.execution_options(**options).execute(sa.select(TRANSACTION))
            rows += sum(1 for _ in result)
        return rows

    return run


def _versions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return sum(
            int(
                connection.scalar(sa.select(sa.func.count()).select_from(version_table(entry))) or 0
            )
            for entry in load(connection).entries
        )


def _wait_for_horizon(engine: sa.Engine) -> None:
    """Sealing stops at the commit horizon: wait until it passes the data
    (a transaction left open elsewhere on the server holds it back)."""
    with engine.connect() as connection:
        last = int(connection.scalar(sa.select(sa.func.max(TRANSACTION.c.id))) or 0)
    deadline = time.monotonic() + HORIZON_WAIT_SECONDS
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if read_horizon(connection) > last:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the commit horizon did not pass transaction {last}")


def _unseal(engine: sa.Engine) -> Callable[[], object]:
    def run() -> None:
        with engine.begin() as connection:
            connection.execute(sa.delete(LEDGER_BLOCK))

    return run


def _seal(engine: sa.Engine) -> Callable[[], object]:
    def run() -> None:
        assert seal(engine, BLOCK_SIZE).blocks, "nothing was sealed"

    return run


def _verify(engine: sa.Engine) -> Callable[[], object]:
    def run() -> None:
        report = verify_integrity(engine)
        assert report.intact, [str(problem) for problem in report.problems[:5]]

    return run


def _figure(
    group: str, subject: str, base: tuple[float, ...], samples: tuple[float, ...], versions: int
) -> Figure:
    figure = Figure(
        group=group,
        subject=subject,
        baseline="bare scan of the same rows",
        samples=samples,
        baseline_samples=base,
        target=TARGET,
    )
    rate = versions / figure.median if figure.median else float("inf")
    scan_rate = versions / figure.baseline_median if figure.baseline_median else float("inf")
    note = f"{rate:,.0f} versions/s against {scan_rate:,.0f} for the scan"
    return Figure(**{**figure.__dict__, "note": note})


def measure(engine: sa.Engine, repetitions: int, group: str) -> list[Figure]:
    """Seal everything from an empty ledger, and verify it, each against the scan."""
    _wait_for_horizon(engine)
    versions = _versions(engine)
    scan = _scan(engine)
    base, sealed = alternate(repetitions, scan, _seal(engine), prepare=_unseal(engine))
    figures = [_figure(group, "seal every transaction", base, sealed, versions)]
    base, verified = alternate(repetitions, scan, _verify(engine))
    figures.append(_figure(group, "verify --integrity", base, verified, versions))
    return figures
