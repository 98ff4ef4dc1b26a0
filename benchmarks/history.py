"""History queries against their raw-SQL floors, call by call in turn.

For random sessions of the benchmark database, each API call is timed
right after its floor: the fewest plain SQL statements that fetch the same
rows (a session's versions and its speaker links, each joined to their
transactions; for a row at a time, the version and the links in effect
then), executed on a pooled connection and fetched, with no Python work
on the rows. The API adds its snapshot (a read-only REPEATABLE READ
transaction), the diffing of consecutive versions and the records it
returns. Each row is read once untimed first, so that neither side pays
for bringing its pages into memory, and the two run in alternating order.
Latencies are reported as p95 and median over all calls.
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditd import api
from benchmarks.dataset import Dataset
from benchmarks.measure import Figure, percentile
from benchmarks.names import placed

P95_TARGET = 1.3
WARM_UP = 20

_VERSIONS = """
    SELECT v.*, t.issued_at, t.actor, t.origin, t.reason
      FROM @sessions_version@ v JOIN @transaction@ t ON t.id = v.transaction_id
     WHERE v.id = :id"""
_LINKS = """
    SELECT l.*, t.issued_at, t.actor, t.origin, t.reason, s.name
      FROM @speakers_sessions_version@ l
      JOIN @transaction@ t ON t.id = l.transaction_id
      LEFT JOIN speaker s ON s.id = l.speaker_id
     WHERE l.session_id = :id"""
_VERSION_AT = """
    SELECT v.*, t.issued_at, t.actor
      FROM @sessions_version@ v JOIN @transaction@ t ON t.id = v.transaction_id
     WHERE v.id = :id AND t.issued_at <= :at
     ORDER BY t.issued_at DESC, v.transaction_id DESC LIMIT 1"""
_LINKS_AT = """
    SELECT DISTINCT ON (l.speaker_id) l.speaker_id, l.operation_type, s.name
      FROM @speakers_sessions_version@ l
      JOIN @transaction@ t ON t.id = l.transaction_id
      LEFT JOIN speaker s ON s.id = l.speaker_id
     WHERE l.session_id = :id AND t.issued_at <= :at
     ORDER BY l.speaker_id, t.issued_at DESC, l.transaction_id DESC"""


def _floor(engine: sa.Engine, statements: list[str]) -> Callable[[int, datetime], object]:
    with engine.connect() as connection:
        statements = [placed(connection, statement) for statement in statements]
    texts = [sa.text(statement) for statement in statements]
    if engine.dialect.name == "sqlite":  # no DISTINCT ON: the newest link row per speaker
        texts = [
            sa.text(statement.replace("DISTINCT ON (l.speaker_id) ", ""))
            for statement in statements
        ]

    def run(row_id: int, at: datetime) -> None:
        with engine.connect() as connection:
            for text in texts:
                parameters: dict[str, Any] = {"id": row_id}
                if ":at" in str(text):
                    parameters["at"] = at
                connection.execute(text, parameters).all()
            connection.rollback()

    return run


CALLS: list[tuple[str, list[str], Callable[[sa.Engine, int, datetime], object]]] = [
    ("history(session)", [_VERSIONS, _LINKS], lambda e, i, _at: api.history(e, "session", i)),
    (
        "who_changed(session, state)",
        [_VERSIONS, _LINKS],
        lambda e, i, _at: api.who_changed(e, "session", i, "state"),
    ),
    (
        "row_at(session, middle) (show-at)",
        [_VERSION_AT, _LINKS_AT],
        lambda e, i, at: api.row_at(e, "session", i, at=at),
    ),
]


def measure(engine: sa.Engine, dataset: Dataset, calls: int, group: str) -> list[Figure]:
    """Each history call against its floor, alternating call by call."""
    rng = random.Random(5)  # noqa: S311 (a reproducible sample, not security)
    ids = [rng.randint(1, dataset.sessions) for _ in range(calls + WARM_UP)]
    at = dataset.middle()
    figures = []
    for label, statements, call in CALLS:
        floor = _floor(engine, statements)
        api_call = functools.partial(call, engine)
        floor_times: list[float] = []
        call_times: list[float] = []
        for position, row_id in enumerate(ids):
            floor(row_id, at)  # untimed: the row's pages in the buffer cache for both
            pair = [(floor_times, floor), (call_times, api_call)]
            for times, action in pair if position % 2 else reversed(pair):
                started = time.perf_counter()
                action(row_id, at)
                if position >= WARM_UP:  # the pool and the statement caches warmed first
                    times.append((time.perf_counter() - started) * 1000)
        figures.append(
            Figure(
                group=group,
                subject=f"{label} p95",
                baseline="raw-SQL floor p95",
                samples=(percentile(call_times, 0.95),),
                baseline_samples=(percentile(floor_times, 0.95),),
                unit="ms",
                target=P95_TARGET,
                note=(
                    f"{calls} calls; median {statistics.median(call_times):.2f} ms"
                    f" vs {statistics.median(floor_times):.2f} ms"
                ),
            )
        )
    return figures
