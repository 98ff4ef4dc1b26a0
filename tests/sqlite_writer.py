"""A writer process for the SQLite write-storm test: writes until a deadline
and logs each change it committed, in commit order.

    python tests/sqlite_writer.py DATABASE LOG NAME SEED SECONDS ROW_ID...

``NAME`` starting with ``orm`` writes through an ``AuditSession``; any other
name writes through the plain ``sqlite3`` module, as another program would:
autocommit statements, multi-statement transactions that may change one row
twice, and statements that change several rows. Every value is unique
(``NAME-counter``). A line ``row<TAB>value<TAB>unit`` is appended only
after its transaction committed, where ``unit`` numbers the statement (the
ORM writer: the transaction) that wrote the value; a transaction that fails
(the database is busy) is rolled back, logged nowhere, and the writer goes
on.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import TextIO

# (row, value, unit): the statement (ORM: transaction) of the writer that wrote it.
Committed = list[tuple[int, str, int]]


def foreign_writer(
    path: str, chooser: random.Random, name: str
) -> Callable[[list[int]], Committed]:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    counter = unit = 0

    def value() -> str:
        nonlocal counter
        counter += 1
        return f"{name}-{counter}"

    def statement() -> int:
        nonlocal unit
        unit += 1
        return unit

    def write(rows: list[int]) -> Committed:
        shape = chooser.random()
        if shape < 0.6:  # one autocommit statement, one row
            row, title = rows[0], value()
            connection.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, row))
            return [(row, title, statement())]
        if shape < 0.8:  # one statement, several rows, one value each
            number = statement()
            titles = [(row, value(), number) for row in rows]
            cases = " ".join(f"WHEN {row} THEN '{title}'" for row, title, _ in titles)
            marks = ", ".join(str(row) for row, _, _ in titles)
            connection.execute(
                f"UPDATE sessions SET title = CASE id {cases} END WHERE id IN ({marks})"
            )
            return titles
        # a transaction of several statements, the same row possibly twice
        changes = [
            (chooser.choice(rows), value(), statement()) for _ in range(chooser.randint(2, 4))
        ]
        connection.execute("BEGIN IMMEDIATE")
        try:
            for row, title, _ in changes:
                connection.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, row))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return changes

    return write


def orm_writer(path: str, chooser: random.Random, name: str) -> Callable[[list[int]], Committed]:
    from auditd import db
    from auditd.capture.attribution import audit_context, session_factory
    from auditd.config import DatabaseSettings
    from auditd.models import Session

    sessions = session_factory(db.create_engine(DatabaseSettings(url=f"sqlite:///{path}")))
    counter = unit = 0

    def write(rows: list[int]) -> Committed:
        nonlocal counter, unit
        final: dict[int, str] = {}
        with audit_context(actor=name, origin="test"), sessions.begin() as session:
            for _ in range(chooser.randint(1, 4)):
                row = chooser.choice(rows)
                counter += 1
                final[row] = f"{name}-{counter}"
                session.get_one(Session, row).title = final[row]
                session.flush()
        unit += 1
        # One version per row per transaction: the row's last value in it.
        return [(row, title, unit) for row, title in final.items()]

    return write


def run(
    log: TextIO,
    write: Callable[[list[int]], Committed],
    chooser: random.Random,
    rows: list[int],
    seconds: float,
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        chosen = chooser.sample(rows, chooser.randint(1, 3))
        try:
            committed = write(chosen)
        except Exception as error:  # busy: nothing of it committed
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            continue
        log.write("".join(f"{row}\t{title}\t{unit}\n" for row, title, unit in committed))
        log.flush()


def main() -> None:
    path, log_path, name, seed, seconds, *row_ids = sys.argv[1:]
    chooser = random.Random(int(seed))  # noqa: S311 (reproducible choice of rows, not secrets)
    make = orm_writer if name.startswith("orm") else foreign_writer
    write = make(path, chooser, name)
    with open(log_path, "w") as log:
        run(log, write, chooser, [int(row) for row in row_ids], float(seconds))


if __name__ == "__main__":
    main()
