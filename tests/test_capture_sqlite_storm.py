"""SQLite under a write storm: every committed write is in history, one by one.

Several writer processes (``tests/sqlite_writer.py``: plain ``sqlite3``
writers and an ``AuditSession`` writer) update the same few sessions as fast
as they can for a bounded time, while ``audittrail serve`` runs its jobs and
is killed (SIGKILL) and restarted. Each writer logs what it committed, in
commit order. Afterwards each row's history must hold exactly the committed
values: every one, once, each under its own transaction row, in each
writer's commit order, ending with the row's current value; and the values
one statement wrote (the ORM writer: one transaction) share one transaction
row, which no other statement of that writer shares.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import orm
from test_capture import assert_chain_intact, seed
from test_daemon_support import NotifySocket, ServeProcess, drifted_keys, live_logging

from auditd import api, capture
from auditd.capture.attribution import AuditSession
from auditd.models import Session

pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.slow,
    pytest.mark.usefixtures(live_logging.__name__),
]

WRITERS = ("sql-a", "sql-b", "sql-c", "orm-d")
ROWS = 6
SECONDS = 30.0
KILLS = 3
WRITER = Path(__file__).parent / "sqlite_writer.py"


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path)
    yield listener
    listener.close()


def committed_writes(logs: dict[str, Path]) -> dict[str, list[tuple[int, str, int]]]:
    """Writer -> the (row, value, statement) it committed, in its commit order."""
    found = {}
    for name, path in logs.items():
        lines = [line.split("\t") for line in path.read_text().splitlines()]
        found[name] = [(int(row), title, int(unit)) for row, title, unit in lines]
    return found


def title_history(engine: sa.Engine, row: int) -> list[tuple[int, str]]:
    """(transaction id, new title) of the row's title changes after its insert, oldest first."""
    changes = api.history(engine, "session", row, newest_first=False)[1:]
    return [(c.transaction_id, c.field("title").new) for c in changes]  # type: ignore[union-attr]


def test_every_write_of_concurrent_writers_is_in_history_while_serve_is_killed(
    engine: sa.Engine,
    sessions: orm.sessionmaker[AuditSession],
    database_url: str,
    notify: NotifySocket,
    tmp_path: Path,
) -> None:
    rows, _ = seed(sessions, talks=ROWS, speakers=0)
    database = str(engine.url.database)
    logs = {name: tmp_path / f"{name}.log" for name in WRITERS}
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WRITER),
                database,
                str(logs[name]),
                name,
                str(number),
                str(SECONDS),
                *map(str, rows),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for number, name in enumerate(WRITERS)
    ]
    settings = {
        "AUDITD_JOBS_SYNC_INTERVAL_SECONDS": "1",
        "AUDITD_JOBS_RECONCILE_INTERVAL_SECONDS": "2",
        "AUDITD_JOBS_VERIFY_INTERVAL_SECONDS": "3",
    }
    chooser = random.Random(15)  # noqa: S311 (reproducible kill times, not secrets)
    started = time.monotonic()
    served: list[ServeProcess] = []

    def start_serve() -> ServeProcess:
        mark = len(notify.assignments())
        served.append(
            ServeProcess(database_url, tmp_path / "state", notify=notify, settings=settings)
        )
        notify.wait_for("READY=1", timeout=60, after=mark)
        return served[-1]

    try:
        for _kill in range(KILLS):
            serve = start_serve()
            time.sleep(chooser.uniform(2.0, SECONDS / KILLS - 4.0))
            serve.process.kill()
            assert serve.wait(timeout=10) == -signal.SIGKILL
        serve = start_serve()
        for writer in writers:
            _, errors = writer.communicate(timeout=SECONDS + 60)
            assert writer.returncode == 0, errors
        serve.send(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
    finally:
        for process in served:
            process.stop()
        for writer in writers:
            writer.kill()
            writer.wait()
    assert time.monotonic() - started < SECONDS + 60

    committed = committed_writes(logs)
    assert all(len(committed[name]) > 100 for name in WRITERS), "a writer hardly wrote"
    transaction_of: dict[str, int] = {}
    switches = 0
    for row in rows:
        recorded = title_history(engine, row)
        values = [title for _, title in recorded]
        ids = [tx for tx, _ in recorded]
        assert ids == sorted(set(ids)), f"session {row}: two changes share a transaction row"
        expected = [t for writes in committed.values() for r, t, _ in writes if r == row]
        assert sorted(values) == sorted(expected), f"session {row}: history differs from commits"
        for name, writes in committed.items():
            mine = [title for title in values if title.startswith(f"{name}-")]
            assert mine == [t for r, t, _ in writes if r == row], f"session {row}, {name}: order"
        with sessions() as session:
            assert session.get_one(Session, row).title == values[-1]
        transaction_of.update((title, tx) for tx, title in recorded)
        writer_of = [title.rsplit("-", 1)[0] for title in values]
        switches += sum(a != b for a, b in pairwise(writer_of))
    assert switches > 100, "the writers hardly interleaved on the same rows"
    for name, writes in committed.items():
        by_unit: dict[int, set[int]] = {}
        for _, title, unit in writes:
            by_unit.setdefault(unit, set()).add(transaction_of[title])
        assert all(len(txs) == 1 for txs in by_unit.values()), f"{name}: a statement split"
        assert len({tx for (tx,) in by_unit.values()}) == len(by_unit), f"{name}: statements merged"
    assert_chain_intact(engine, "sessions", "id")
    assert drifted_keys(engine) == []
    with engine.connect() as connection:
        assert capture.verify(connection) == []
