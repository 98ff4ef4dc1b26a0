"""The daemon's footprint: idle RSS of ``audittrail serve``, peak RSS of a full
reconcile, and (from :mod:`benchmarks.repair_lag`) the lag from a commit to
its repair, next to the configured sync interval.

Both processes are the real console script, started on the benchmark
database; memory is read from ``/proc/<pid>/status`` (``VmRSS``), sampled
every 50 ms. A flat peak across scales means the run holds one batch at a
time, not the table.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.measure import Value
from benchmarks.repair_lag import measure_repair_lag

AUDITTRAIL = Path(sys.executable).with_name("audittrail")
READY_TIMEOUT = 60.0
IDLE_SECONDS = 3.0


def _environment(url: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AUDITD_")}
    environment |= {"AUDITD_DATABASE_URL": url, "AUDITD_LOGGING_FORMAT": "json"}
    environment["AUDITD_DATABASE_STATEMENT_TIMEOUT_SECONDS"] = "3600"
    return environment


def rss_mib(pid: int) -> float | None:
    """Resident memory of a running process in MiB (None once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def idle_rss(url: str) -> float:
    """MiB of a started ``audittrail serve`` once it has been idle a moment."""
    process = subprocess.Popen(
        [str(AUDITTRAIL), "serve"],
        env=_environment(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        assert process.stdout is not None
        for line in process.stdout:
            if "serve ready" in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("audittrail serve did not get ready")
        time.sleep(IDLE_SECONDS)
        rss = rss_mib(process.pid)
        if rss is None:
            raise RuntimeError("audittrail serve exited")
        return rss
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def reconcile_peak_rss(url: str) -> tuple[float, float]:
    """(peak MiB, seconds) of ``audittrail reconcile --full`` on the database."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(AUDITTRAIL), "reconcile", "--full"],
        env=_environment(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, rss_mib(process.pid) or 0.0)
        time.sleep(0.05)
    if process.returncode != 0:
        raise RuntimeError(f"audittrail reconcile --full exited {process.returncode}")
    return peak, time.perf_counter() - started


def engine_backend(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def measure(url: str, group: str) -> list[Value]:
    values = [
        Value(group=group, subject="serve: idle RSS", samples=(idle_rss(url),), unit="MiB"),
    ]
    peak, seconds = reconcile_peak_rss(url)
    values.append(
        Value(
            group=group,
            subject="reconcile --full: peak RSS",
            samples=(peak,),
            unit="MiB",
            note=f"the run took {seconds:.1f} s",
        )
    )
    # The lag is measured on a database of its own: a steady writer and serve.
    lag = measure_repair_lag(engine_backend(url))
    note = (
        f"{lag['edits']} out-of-band edits at {lag['edits_per_second']:g}/s,"
        f" sync every {lag['sync_interval_seconds']} s as the fallback,"
        f" {lag['unrepaired']} unrepaired"
    )
    for share in ("p50", "p99"):
        values.append(
            Value(
                group=group,
                subject=f"commit-to-repair lag {share}",
                samples=(float(lag[f"lag_{share}_seconds"] or "nan"),),
                unit="s",
                note=note,
            )
        )
    return values
