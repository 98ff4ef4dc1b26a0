"""The daemon's footprint: idle RSS of ``audittrail serve``, peak RSS of a full
reconcile, and (from :mod:`benchmarks.repair_lag`, when present) the lag
from a commit to its repair.

Both processes are the real console script, started on the benchmark
database; memory is read from ``/proc/<pid>/status`` (``VmRSS``), sampled
every 50 ms. A flat peak across scales means the run holds one batch at a
time, not the table.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import Value

AUDITTRAIL = Path(sys.executable).with_name("audittrail")
READY_TIMEOUT = 60.0
IDLE_SECONDS = 3.0
# Another module measures the lag from a commit to its repair by a running
# daemon; when it exists it provides measure(url) -> {"lag_seconds": [...]}.
REPAIR_LAG_MODULE = "benchmarks.repair_lag"


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


def repair_lag(url: str) -> dict[str, Any] | None:
    """The figures of :data:`REPAIR_LAG_MODULE`, or None when it is absent."""
    try:
        module = importlib.import_module(REPAIR_LAG_MODULE)
    except ModuleNotFoundError:
        return None
    result: dict[str, Any] = module.measure(url)
    return result


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
    lag = repair_lag(url)
    if lag is None:
        values.append(
            Value(
                group=group,
                subject="commit-to-repair lag",
                samples=(float("nan"),),
                unit="s",
                note=f"not measured: {REPAIR_LAG_MODULE} is not part of this build",
            )
        )
    else:
        values.append(
            Value(
                group=group,
                subject="commit-to-repair lag",
                samples=tuple(lag["lag_seconds"]),
                unit="s",
            )
        )
    return values
