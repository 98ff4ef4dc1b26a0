"""Benchmark databases: sessions with a long, realistic history, built set-based.

Rows are inserted with a few ``INSERT … SELECT`` statements over a series of
numbers, not through the capture triggers, but shaped exactly like captured
history: each version's ``end_transaction_id`` is the next version's
``transaction_id``, every session's stamp equals its derived value, and each
session has one speaker link from its first transaction (every fourth a
second one from its sixth).

Two shapes of history, both with ``versions`` versions per session:

* ``spread``: one transaction per version, the versions of different
  sessions interleaved like real edits (an application writing a row per
  transaction);
* ``bulk``: few transactions touching many rows, as 500-row statements do
  (each transaction versions 500 consecutive sessions).

Transaction ids are ones the commit-order horizon already treats as
committed, so that an incremental sync after the build looks only at what
changed since: on PostgreSQL negative ids (every real xid is positive and
larger), on SQLite ids from 1 (its horizon is the largest id plus one). The
sync watermark is stored at the horizon once the build is done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from auditd import capture, db, registry
from auditd.models import Base
from auditd.models.audit import TRANSACTION
from auditd.models.namespace import metadata_key, version_table_name
from auditd.stamps.horizon import snapshot_watermark
from auditd.stamps.watermark import store_watermark
from benchmarks.names import placed

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
SECONDS_PER_TRANSACTION = 10
ROWS_PER_STATEMENT = 500
MAX_SPEAKERS = 20_000
SHAPES = ("spread", "bulk")


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """What a benchmark database holds."""

    sessions: int
    versions: int
    shape: str = "spread"

    @property
    def speakers(self) -> int:
        return min(MAX_SPEAKERS, self.sessions)

    @property
    def rounds(self) -> int:
        """Transactions per version round (``bulk``: one per 500 sessions)."""
        if self.shape == "bulk":
            return math.ceil(self.sessions / ROWS_PER_STATEMENT)
        return self.sessions

    @property
    def transactions(self) -> int:
        return self.rounds * self.versions

    def describe(self) -> str:
        versions = self.sessions * self.versions
        return (
            f"{self.sessions:,} sessions, {versions:,} versions in "
            f"{self.transactions:,} transactions ({self.shape})"
        )

    def middle(self) -> datetime:
        """A time halfway through the history."""
        return EPOCH + timedelta(seconds=SECONDS_PER_TRANSACTION * self.transactions / 2)


def _series(dialect: str, low: str, high: str, alias: str) -> str:
    """A FROM item of integers ``low..high`` in column ``<alias>.g``."""
    if dialect == "postgresql":
        return f"generate_series({low}, {high}) AS {alias}(g)"
    return f"(SELECT g FROM bench_numbers WHERE g BETWEEN {low} AND {high}) AS {alias}"


def _issued_at(dialect: str, transaction: str) -> str:
    """The ``issued_at`` of a transaction id: ten seconds per transaction."""
    if dialect == "postgresql":
        return f"(:epoch + ({transaction} - :base) * interval '{SECONDS_PER_TRANSACTION} seconds')"
    return (
        f"(strftime('%Y-%m-%d %H:%M:%S', :epoch_s + ({transaction} - :base) * "
        f"{SECONDS_PER_TRANSACTION}, 'unixepoch') || '.000000')"
    )


def _transaction_of(version: str, session: str) -> str:
    """The transaction id of version ``version`` (0-based) of session ``session`` (1-based)."""
    return f"(:base + 1 + {version} * :rounds + ({session} - 1) / :per_transaction)"


def _steps(dialect: str) -> list[tuple[str, list[str]]]:
    def series(low: str, high: str, alias: str) -> str:
        return _series(dialect, low, high, alias)

    tx = _transaction_of
    return [
        ("transactions", [f"""
            INSERT INTO @transaction@ (id, issued_at, actor, origin, reason)
            SELECT :base + t.g, {_issued_at(dialect, ":base + t.g")},
                   CASE t.g % 5 WHEN 0 THEN 'alice' WHEN 1 THEN 'bob' WHEN 2 THEN 'carol'
                                WHEN 3 THEN 'dave' ELSE 'erin' END,
                   'api', CASE WHEN t.g % 7 = 0 THEN 'reschedule' END
              FROM {series("1", ":transactions", "t")}"""]),
        ("events, tracks, speakers", [
            "INSERT INTO events (id, name, timezone, state)"
            " VALUES (1, 'Benchmark', 'UTC', 'published')",
            "INSERT INTO @events_version@ (id, name, timezone, state, transaction_id,"
            " operation_type) VALUES (1, 'Benchmark', 'UTC', 'published', :base + 1, 0)",
            f"INSERT INTO tracks (id, name, event_id) SELECT x.g, 'Track ' || x.g, 1"
            f" FROM {series('1', '10', 'x')}",
            f"INSERT INTO @tracks_version@ (id, name, event_id, transaction_id, operation_type)"
            f" SELECT x.g, 'Track ' || x.g, 1, :base + 1, 0 FROM {series('1', '10', 'x')}",
            f"INSERT INTO speaker (id, name, event_id) SELECT x.g, 'Speaker ' || x.g, 1"
            f" FROM {series('1', ':speakers', 'x')}",
            f"INSERT INTO @speaker_version@ (id, name, event_id, transaction_id, operation_type)"
            f" SELECT x.g, 'Speaker ' || x.g, 1, :base + 1, 0"
            f" FROM {series('1', ':speakers', 'x')}",
        ]),
        # Every version changes the state, every third one the title.
        ("sessions_version", [f"""
            INSERT INTO @sessions_version@ (id, title, track_id, event_id, state, is_mail_sent,
                                          is_locked, transaction_id, end_transaction_id,
                                          operation_type)
            SELECT i.g,
                   'Session ' || i.g || CASE WHEN k.g >= 3 THEN ' (rev ' || (k.g / 3) || ')'
                                             ELSE '' END,
                   1 + i.g % 10, 1,
                   CASE k.g % 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'accepted'
                                ELSE 'confirmed' END,
                   false, false,
                   {tx("k.g", "i.g")},
                   CASE WHEN k.g < :versions - 1 THEN {tx("(k.g + 1)", "i.g")} END,
                   CASE WHEN k.g = 0 THEN 0 ELSE 1 END
              FROM {series("0", ":versions - 1", "k")}, {series("1", ":sessions", "i")}"""]),
        ("sessions", [f"""
            INSERT INTO sessions (id, title, track_id, event_id, state, is_mail_sent,
                                  is_locked, last_modified_at)
            SELECT v.id, v.title, v.track_id, v.event_id, v.state, v.is_mail_sent, v.is_locked,
                   {_issued_at(dialect, "v.transaction_id")}
              FROM @sessions_version@ v
             WHERE v.end_transaction_id IS NULL"""]),
        ("speakers_sessions(_version)", [
            f"INSERT INTO @speakers_sessions_version@ (speaker_id, session_id, transaction_id,"
            f" operation_type) SELECT 1 + i.g % :speakers, i.g, {tx('0', 'i.g')}, 0"
            f" FROM {series('1', ':sessions', 'i')}",
            f"INSERT INTO @speakers_sessions_version@ (speaker_id, session_id, transaction_id,"
            f" operation_type) SELECT 1 + (i.g + 1) % :speakers, i.g, {tx(':second', 'i.g')}, 0"
            f" FROM {series('1', ':sessions', 'i')} WHERE i.g % 4 = 0",
            "INSERT INTO speakers_sessions (speaker_id, session_id)"
            " SELECT speaker_id, session_id FROM @speakers_sessions_version@",
        ]),
    ]  # fmt: skip


HEAVY_TABLES = (
    TRANSACTION,
    Base.metadata.tables[metadata_key(version_table_name("sessions"))],
    Base.metadata.tables[metadata_key(version_table_name("speakers_sessions"))],
)


def _parameters(dataset: Dataset, dialect: str) -> dict[str, object]:
    base = -dataset.transactions - 1 if dialect == "postgresql" else 0
    return {
        "base": base,
        "sessions": dataset.sessions,
        "versions": dataset.versions,
        "rounds": dataset.rounds,
        "per_transaction": ROWS_PER_STATEMENT if dataset.shape == "bulk" else 1,
        "transactions": dataset.transactions,
        "speakers": dataset.speakers,
        "second": min(5, dataset.versions - 1),
        "epoch": EPOCH,
        "epoch_s": int(EPOCH.timestamp()),
    }


def _execute(connection: sa.Connection, statement: str, parameters: dict[str, object]) -> None:
    used = {name: value for name, value in parameters.items() if f":{name}" in statement}
    connection.execute(sa.text(placed(connection, statement)), used)


def build(engine: sa.Engine, dataset: Dataset, log: Callable[[str], None] = print) -> None:
    """Fill a freshly migrated database with ``dataset``, analysed and with the
    sync watermark at the horizon."""
    dialect = engine.dialect.name
    parameters = _parameters(dataset, dialect)
    with db.write_transaction(engine) as connection:
        indexes = []
        for table in HEAVY_TABLES:  # rebuilt after the load: faster than maintained
            for index in table.indexes:
                index.drop(connection, checkfirst=True)
                indexes.append(index)
        if dialect == "postgresql":
            # Bulk load only: no capture triggers, no FK checks (the data is consistent).
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            highest = max(dataset.transactions, dataset.sessions, dataset.versions)
            connection.execute(sa.text("CREATE TEMP TABLE bench_numbers (g INTEGER PRIMARY KEY)"))
            connection.execute(
                sa.text(
                    "WITH RECURSIVE n(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM n WHERE g < :m)"
                    " INSERT INTO bench_numbers SELECT g FROM n"
                ),
                {"m": highest},
            )
            # No capture during the load; reinstalled afterwards.
            for (trigger,) in connection.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all():
                connection.exec_driver_sql(f'DROP TRIGGER "{trigger}"')
        for label, statements in _steps(dialect):
            started = time.perf_counter()
            for statement in statements:
                _execute(connection, statement, parameters)
            log(f"  {label}: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        for index in indexes:
            index.create(connection)
        log(f"  indexes: {time.perf_counter() - started:.1f} s")
        if dialect == "sqlite":
            connection.execute(sa.text("DROP TABLE bench_numbers"))
    if dialect == "sqlite":
        with db.write_transaction(engine) as connection:
            capture.install(connection, registry.load(connection))
    analyze(engine)
    with db.write_transaction(engine) as connection:
        store_watermark(connection, snapshot_watermark(connection))


def analyze(engine: sa.Engine) -> None:
    """Fresh statistics (and, on PostgreSQL, a visibility map for index-only scans)."""
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.connect() as connection:
            connection.execute(sa.text("ANALYZE"))
            connection.commit()
    print(f"  vacuum/analyze: {time.perf_counter() - started:.1f} s", flush=True)
