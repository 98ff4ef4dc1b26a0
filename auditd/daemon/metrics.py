"""Prometheus metrics and the health check, served over HTTP when configured.

Off unless ``metrics.listen_address`` is set; a bare port listens on the
loopback address. ``GET /metrics`` is the Prometheus text format,
``GET /healthz`` answers 200 while the daemon would feed the systemd
watchdog and 503 (with the reason) while it would not. Every metric name is
documented in ``docs/daemon.md``; they share the ``audittrail_`` prefix.
Families for later features (the ledger's seal and verify results) belong
in :class:`DaemonMetrics` beside the job families.

The HTTP server runs in daemon threads and reads only in-memory state: a
scrape never touches the database.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    make_wsgi_app,
)

from auditd.config.listen import split_listen_address
from auditd.daemon.runs import RunRecord
from auditd.errors import ConfigError
from auditd.logging import get_logger
from auditd.timestamps import utcnow

__all__ = ["DaemonMetrics", "HealthCheck", "MetricsServer"]

HealthCheck = Callable[[], tuple[bool, str]]
"""Returns (healthy, one line saying why)."""

_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
_LAG_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


class DaemonMetrics:
    """Every metric ``serve`` exports, in a registry of its own."""

    def __init__(self, jobs: Iterable[str]) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.runs = Counter(
            "audittrail_job_runs",
            "Job runs by outcome: succeeded, failed, interrupted, skipped (another "
            "runner had it) or error (could not start).",
            ["job", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "audittrail_job_run_duration_seconds",
            "Duration of the job runs this process made.",
            ["job"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.rows = {
            name: Counter(
                f"audittrail_rows_{name}",
                f"Rows {text} by the job runs of this process.",
                ["job"],
                registry=registry,
            )
            for name, text in (
                ("scanned", "examined"),
                ("repaired", "whose last_modified_at was repaired"),
                ("skipped", "locked by other writers and left for later"),
            )
        }
        self.drift = Gauge(
            "audittrail_drift_rows",
            "Rows whose last_modified_at differed from history at the last verify.",
            registry=registry,
        )
        self.capture_problems = Gauge(
            "audittrail_capture_problems",
            "Capture problems (missing, disabled or outdated triggers, uncovered "
            "columns) found by the last verify.",
            registry=registry,
        )
        self.lag = Histogram(
            "audittrail_commit_to_repair_lag_seconds",
            "For each sync run that repaired rows: seconds from the oldest repaired "
            "change's transaction time to the end of the run.",
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self._watermark_moved: datetime | None = None
        watermark_age = Gauge(
            "audittrail_sync_watermark_age_seconds",
            "Seconds since a sync run of this process last stored the watermark "
            "(-1 before the first); with replicas, take the minimum.",
            registry=registry,
        )
        watermark_age.set_function(self._watermark_age)
        self.stalled = Gauge(
            "audittrail_job_stalled",
            "1 while the job has made no progress for longer than its stall limit.",
            ["job"],
            registry=registry,
        )
        self.last_success = Gauge(
            "audittrail_job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run in this process.",
            ["job"],
            registry=registry,
        )
        self.healthy = Gauge(
            "audittrail_healthy",
            "1 while the daemon feeds the systemd watchdog (what /healthz reports).",
            registry=registry,
        )
        for job in jobs:  # every series exists from the start, at 0
            self.stalled.labels(job=job).set(0)
            self.duration.labels(job=job)
            for counter in self.rows.values():
                counter.labels(job=job)

    def _watermark_age(self) -> float:
        if self._watermark_moved is None:
            return -1.0
        return (utcnow() - self._watermark_moved).total_seconds()

    def observe_run(self, record: RunRecord) -> None:
        """Count one finished run."""
        job = record.job
        self.runs.labels(job=job, outcome=record.status).inc()
        if record.duration_seconds is not None:
            self.duration.labels(job=job).observe(record.duration_seconds)
        for name, counter in self.rows.items():
            counter.labels(job=job).inc(getattr(record, f"rows_{name}"))
        if record.status != "succeeded":
            return
        finished = record.finished_at or utcnow()
        self.last_success.labels(job=job).set(finished.timestamp())
        findings = record.findings()
        if job == "verify":
            self.drift.set(record.rows_drifted)
            self.capture_problems.set(len(findings.get("capture_problems", [])))
        if job == "sync" and record.watermark_to is not None:
            self._watermark_moved = finished
        oldest = findings.get("oldest_repaired_change_at")
        if oldest is not None:
            lag = (finished - datetime.fromisoformat(oldest)).total_seconds()
            self.lag.observe(max(lag, 0.0))

    def observe_outcome(self, job: str, outcome: str) -> None:
        """Count a run that did not happen: ``skipped`` or ``error``."""
        self.runs.labels(job=job, outcome=outcome).inc()

    def observe_health(
        self, healthy: bool, stalled_jobs: Iterable[str], jobs: Iterable[str]
    ) -> None:
        """Publish what the main loop decided about the watchdog."""
        stalled = set(stalled_jobs)
        for job in jobs:
            self.stalled.labels(job=job).set(1 if job in stalled else 0)
        self.healthy.set(1 if healthy else 0)


class _QuietHandler(WSGIRequestHandler):
    """Requests are not logged: Prometheus scrapes every few seconds."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hanging client never delays the daemon's exit


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``metrics.listen_address``."""

    def __init__(self, listen_address: str, metrics: DaemonMetrics, health: HealthCheck) -> None:
        self.listen_address = listen_address
        self._metrics_app = make_wsgi_app(metrics.registry)
        self._health = health
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            healthy, reason = self._health()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{'ok' if healthy else 'unhealthy'}: {reason}\n".encode()]
        if path == "/metrics":
            body: list[bytes] = self._metrics_app(environ, start_response)
            return body
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /healthz\n"]

    def start(self) -> None:
        """Bind and serve in a background thread.

        Raises ConfigError (exit 3) when the address cannot be bound.
        """
        host, port = split_listen_address(self.listen_address)
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("_Server", (_ThreadingServer,), {"address_family": family})
            self._server = make_server(host, port, self._app, server_class, _QuietHandler)
        except OSError as error:
            reason = error.strerror or str(error)
            raise ConfigError(
                f"metrics.listen_address {self.listen_address} cannot be used: {reason}",
                "choose a free port, or leave metrics.listen_address empty to turn metrics off",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )
        self._thread.start()
        get_logger(__name__).info("metrics served", listen_address=self.listen_address)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
