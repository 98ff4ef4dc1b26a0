"""Shared by the ledger tests: a sealed history built by real edits, and the
tampering an attacker with write access to the audit tables could do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_daemon_support import add_sessions, quick_write
from test_history_support import Scenario, build_scenario, wait_for_horizon

from auditd.ledger import Digest, seal
from auditd.models import SessionVersion
from auditd.models.audit import TRANSACTION
from auditd.models.ledger import LEDGER_BLOCK

AUDITTRAIL = Path(sys.executable).parent / "audittrail"
SESSION_VERSION: sa.Table = SessionVersion.__table__  # type: ignore[assignment]
BLOCK_SIZE = 3


@dataclass
class Sealed:
    """A scenario sealed into several blocks, with a gap in its transaction ids."""

    scenario: Scenario
    gap: int  # an id inside the sealed range that no transaction has
    blocks: int

    @property
    def engine(self) -> sa.Engine:
        return self.scenario.engine

    @property
    def talk(self) -> int:
        return self.scenario.ids["talk"]


def burn_transaction_ids(engine: sa.Engine) -> None:
    """Leave a gap in the transaction ids, as deployments have (PostgreSQL xids
    used by other work; SQLite ids after a sequence bump)."""
    with quick_write(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_current_xact_id()"))
        else:
            connection.execute(
                sa.text("UPDATE sqlite_sequence SET seq = seq + 5 WHERE name = :t"),
                {"t": TRANSACTION.name},
            )


def last_transaction_id(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.max(TRANSACTION.c.id))) or 0)


def seal_everything(engine: sa.Engine, block_size: int = BLOCK_SIZE) -> int:
    """Seal every committed transaction; returns the number of new blocks."""
    wait_for_horizon(engine, last_transaction_id(engine))
    return len(seal(engine, block_size).blocks)


def build_sealed(engine: sa.Engine, url: str) -> Sealed:
    scenario = build_scenario(engine, url)
    before_gap = last_transaction_id(engine)
    burn_transaction_ids(engine)
    add_sessions(engine, 2, title="after the gap")
    with engine.connect() as connection:
        after_gap = connection.scalar(
            sa.select(sa.func.min(TRANSACTION.c.id)).where(TRANSACTION.c.id > before_gap)
        )
    assert after_gap is not None and after_gap > before_gap + 1
    blocks = seal_everything(engine)
    assert blocks > 1
    return Sealed(scenario=scenario, gap=before_gap + 1, blocks=blocks)


@pytest.fixture
def sealed(engine: sa.Engine, database_url: str) -> Sealed:
    return build_sealed(engine, database_url)


def talk_versions(sealed: Sealed) -> list[Any]:
    """The talk's versions, oldest first (by their chain)."""
    with sealed.engine.connect() as connection:
        rows = connection.execute(
            sa.select(SESSION_VERSION).where(SESSION_VERSION.c.id == sealed.talk)
        ).all()
    closers = {row.end_transaction_id for row in rows}
    ordered = [next(row for row in rows if row.transaction_id not in closers)]
    while ordered[-1].end_transaction_id is not None:
        ordered.append(next(r for r in rows if r.transaction_id == ordered[-1].end_transaction_id))
    return ordered


def tamper(engine: sa.Engine, statement: sa.Executable) -> None:
    """Run one statement as an attacker with full rights would: straight SQL,
    outside capture, past the append-only guards (a PostgreSQL superuser
    switches triggers off; whoever owns a SQLite file drops them and puts
    them back)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            assert connection.execute(statement).rowcount == 1  # type: ignore[attr-defined]
            return
        guards = connection.execute(
            sa.text(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'trigger' AND name LIKE '%append_only%'"
            )
        ).all()
        for name, _ in guards:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        assert connection.execute(statement).rowcount == 1  # type: ignore[attr-defined]
        for _, sql in guards:
            connection.exec_driver_sql(sql)


def rebuild_ledger(engine: sa.Engine) -> None:
    """What an attacker who can run our code does after rewriting history:
    throw the ledger away and seal everything again."""
    with engine.begin() as connection:
        connection.execute(sa.delete(LEDGER_BLOCK))
    seal_everything(engine)


def write_digests(path: Path, digests: list[Digest]) -> Path:
    path.write_text("".join(digest.to_json() + "\n" for digest in digests), encoding="utf-8")
    return path


def audittrail(
    url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script, as operators run it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITD_")}
    return subprocess.run(
        [str(AUDITTRAIL), "--database-url", url, *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def digest_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def iter_blocks(engine: sa.Engine) -> Iterator[Any]:
    with engine.connect() as connection:
        yield from connection.execute(sa.select(LEDGER_BLOCK).order_by(LEDGER_BLOCK.c.number))
