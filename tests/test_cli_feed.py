"""Scripts following the change feed through the installed console script.

While writers commit (on PostgreSQL also one that takes its transaction id
early and commits after later ones), a script per format pages through
``audittrail changes`` from cursor 0 with the cursor that format carries,
and ``changes --follow`` runs in the stream formats; each must receive every
change exactly once.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from test_cli_console import AUDITTRAIL, audittrail
from test_cli_history import table_rows
from test_history_support import Log, current_transaction, wait_for_horizon, write_edits

from auditd import api
from auditd.capture.attribution import audit_context, session_factory
from auditd.models import Session

Key = tuple[int, str, int]  # (transaction id, model, row id)
DEADLINE = 300.0
EDITS = 5  # per writer


def _keys_from_table(lines: list[str]) -> list[Key]:
    _, rows = table_rows("\n".join(lines))
    return [(int(r["tx"]), r["model"], int(r["id"])) for r in rows if r["tx"]]


def _collapse(keys: list[Key]) -> list[Key]:
    """One key per change: the lines of one change (one per field) are adjacent."""
    return [key for index, key in enumerate(keys) if index == 0 or keys[index - 1] != key]


def read_page(fmt: str, out: str, err: str) -> tuple[list[Key], int]:
    """The changes of one page and its cursor, the way a script reads ``fmt``."""
    if fmt == "json":
        page = json.loads(out)
        keys = [(c["transaction_id"], c["model"], c["row_id"]) for c in page["changes"]]
        return keys, page["next_after_transaction"]
    if fmt == "jsonl":
        *changes, cursor = [json.loads(line) for line in out.splitlines()]
        keys = [(c["transaction_id"], c["model"], c["row_id"]) for c in changes]
        return keys, cursor["next_after_transaction"]
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO(out))
        keys = [(int(r["transaction_id"]), r["model"], int(r["row_id"])) for r in rows]
        (line,) = err.splitlines()
        fields = dict(pair.split("=") for pair in line.removeprefix("cursor: ").split())
        return _collapse(keys), int(fields["next_after_transaction"])
    lines = out.splitlines()
    return _keys_from_table(lines[:-1]), int(lines[-1].split()[-1])


def read_stream(fmt: str, text: str) -> list[Key]:
    """Every change printed so far by ``changes --follow`` in ``fmt``."""
    lines = text.splitlines()
    if fmt == "jsonl":
        records = [json.loads(line) for line in lines]
        return [(r["transaction_id"], r["model"], r["row_id"]) for r in records if "model" in r]
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO("\n".join(lines) + "\n"))
        return _collapse([(int(r["transaction_id"]), r["model"], int(r["row_id"])) for r in rows])
    keys: list[Key] = []
    block: list[str] = []
    for line in lines:  # a table per page, each closed by its cursor note
        if " transaction" in line and "next: --after-transaction" in line:
            keys += _keys_from_table(block)
            block = []
        else:
            block.append(line)
    return keys


class PagingScript:
    """A script that runs ``changes`` from cursor 0, page after page."""

    def __init__(self, url: str, fmt: str) -> None:
        self.url, self.fmt = url, fmt
        self.cursor = 0
        self.seen: list[Key] = []
        self.polls = 0
        self.polls_while_writing = 0

    def poll(self, writing: bool) -> None:
        result = audittrail(
            "--database-url", self.url, "changes", "--after-transaction", str(self.cursor),
            "--limit", "4", "--format", self.fmt,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        keys, self.cursor = read_page(self.fmt, result.stdout, result.stderr)
        self.seen += keys
        self.polls += 1
        self.polls_while_writing += writing


class Follower:
    """``changes --follow`` from cursor 0, its output collected as it comes."""

    def __init__(self, url: str, fmt: str) -> None:
        self.fmt = fmt
        self.process = subprocess.Popen(
            [AUDITTRAIL, "--database-url", url, "changes", "--follow", "--after-transaction",
             "0", "--interval", "0.2", "--limit", "8", "--format", fmt],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.out: list[str] = []
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.out.append(line)

    def seen(self) -> list[Key]:
        return read_stream(self.fmt, "".join(self.out))

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        self.reader.join(timeout=60)
        return self.process.returncode, err


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def test_scripts_following_the_feed_in_every_format_get_each_change_exactly_once(
    engine: sa.Engine, database_url: str
) -> None:
    with audit_context(actor="setup", origin="test"), session_factory(engine).begin() as s:
        rows = [Session(title=f"talk {n}") for n in range(4)]
        s.add_all(rows)
    ids = [row.id for row in rows]
    followers = [Follower(database_url, fmt) for fmt in ("jsonl", "csv", "table")]
    scripts = [PagingScript(database_url, fmt) for fmt in ("json", "jsonl", "csv", "table")]
    logs: list[Log] = [[] for _ in range(4)]

    def polls() -> int:
        return sum(script.polls for script in scripts)

    # Writers are paced by the readers, not by a clock: an edit every three
    # polls (once all four scripts have started), so the scripts read between
    # commits however slowly the machine runs them.
    def write_paced(session_id: int, log: Log) -> None:
        for n in range(EDITS):
            _until(lambda n=n: polls() >= len(scripts) + 3 * n, "the readers")
            write_edits(engine, session_id, 1, log, 0.0)

    def write_late(session_id: int, log: Log) -> None:
        # Takes its transaction id, then commits only after another writer
        # committed a transaction with a larger id.
        sessions = session_factory(engine)
        for n in range(3):
            with audit_context(actor="late", origin="test"), sessions.begin() as session:
                session.get_one(Session, session_id).title = f"late {n}"
                session.flush()
                tx = current_transaction(session.connection())
                _until(lambda tx=tx: any(t > tx for w in logs[:3] for t, _ in w), "a later commit")
            log.append((tx, time.monotonic()))

    writers = [threading.Thread(target=write_paced, args=(ids[n], logs[n])) for n in range(3)]
    late = engine.dialect.name == "postgresql"
    if late:  # SQLite serialises writers: nobody can commit past an open one
        writers.append(threading.Thread(target=write_late, args=(ids[3], logs[3])))
    everything: list[Key] = []
    known = threading.Event()  # set once `everything` is read, after the writers

    def keep_polling(script: PagingScript) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            script.poll(writing=any(w.is_alive() for w in writers))
            if known.is_set() and len(script.seen) >= len(everything):
                return

    pollers = [threading.Thread(target=keep_polling, args=(script,)) for script in scripts]
    for poller in pollers:
        poller.start()
    _until(lambda: all(f.out for f in followers), "the followers")
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    wait_for_horizon(engine, max(tx for log in logs for tx, _ in log))
    everything += [
        (c.transaction_id, c.model, c.row_id) for c in api.changes(engine, limit=1000).changes
    ]
    known.set()
    for poller in pollers:
        poller.join(timeout=DEADLINE)
    for follower in followers:
        _until(lambda f=follower: len(f.seen()) >= len(everything), f"--follow {follower.fmt}")
    stopped = [follower.stop() for follower in followers]

    assert len(everything) == 4 + 3 * EDITS + (3 if late else 0)
    for script in scripts:
        assert script.seen == everything, f"{script.fmt}: a change was missed or repeated"
        assert script.polls_while_writing >= 2, script.fmt
    for follower, (code, err) in zip(followers, stopped, strict=True):
        assert follower.seen() == everything, f"--follow {follower.fmt}"
        assert code == 0, err  # SIGTERM ends a follow cleanly
        assert all(line.startswith("cursor: ") for line in err.splitlines()), err
    if late:
        # A late transaction really had a smaller id than ones that committed before it.
        others = [entry for log in logs[:3] for entry in log]
        assert any(
            other_tx > late_tx and other_done < late_done
            for late_tx, late_done in logs[3]
            for other_tx, other_done in others
        )


def test_follow_stops_cleanly_when_its_reader_goes_away(database_url: str) -> None:
    follower = subprocess.Popen(
        [AUDITTRAIL, "--database-url", database_url, "changes", "--follow", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert follower.stdout is not None and follower.stderr is not None
    first: Any = follower.stdout.readline()  # the starting cursor
    assert json.loads(first)["has_more"] is False
    follower.stdout.close()  # like `| head -1` exiting
    assert follower.wait(timeout=60) == 0
    assert follower.stderr.read() == b""
