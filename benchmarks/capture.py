"""What capture costs: plain unversioned writes against captured writes, in one run.

A throwaway database is migrated, so ``sessions`` carries the capture
triggers that the migration installs with :func:`auditd.capture.install`
(and its real version table with all its indexes). ``bench_plain`` is an
identical copy of ``sessions`` without triggers. Both get the same 2,000
rows; then the scale's number of row updates is timed on each, as

* one row per transaction and 500 rows per transaction,
* through the ORM, the way an application writes (load, assign, commit; an
  :class:`~auditd.versioning.AuditSession` with an ``audit_context`` for the
  captured table, a plain ``Session`` for the other), and through plain SQL
  ``UPDATE`` statements (one per row; the 500-row case also as one
  statement updating 500 rows).

Plain and captured runs alternate; every figure is the median of the
repetitions, and each run starts after ``VACUUM ANALYZE`` (``ANALYZE`` on
SQLite) so neither side pays for the other's dead rows. Run through
``python -m benchmarks`` (``AUDITTRAIL_BENCH_POSTGRES_URL`` overrides the
server's admin database URL).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import orm

from auditd import db, migrate
from auditd.capture.attribution import audit_context, session_factory
from auditd.config import DatabaseSettings
from benchmarks.measure import Figure
from benchmarks.names import placed

ADMIN_URL = os.environ.get(
    "AUDITTRAIL_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
TABLE_ROWS = 2000
BATCH = 500
# The ratios the issue asks for, per backend and shape (None: none stated).
TARGETS = {
    ("postgresql", "500 rows in one statement"): 3.0,
    ("postgresql", "1 row per transaction"): 1.35,
    ("sqlite", "500 rows per transaction"): 4.0,
}
CAPTURED, PLAIN = "sessions", "bench_plain"


class Row:
    """One ``sessions``-shaped row; mapped once per table."""

    id: int
    title: str


@contextmanager
def throwaway_database(backend: str) -> Iterator[sa.Engine]:
    """A migrated database that is dropped (or deleted) afterwards."""
    if backend == "postgresql":
        admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        name = f"audittrail_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        url = sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        engine = db.create_engine(DatabaseSettings(url=url, statement_timeout_seconds=3600))
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return
    with tempfile.TemporaryDirectory() as folder:
        engine = db.create_engine(DatabaseSettings(url=f"sqlite:///{Path(folder) / 'bench.db'}"))
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def create_plain_copy(engine: sa.Engine) -> None:
    """``bench_plain``: the columns, keys, checks and indexes of ``sessions``, no triggers."""
    with db.write_transaction(engine) as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"CREATE TABLE {PLAIN} (LIKE {CAPTURED} INCLUDING ALL)")
            return
        rows = connection.exec_driver_sql(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL"
            " AND type IN ('table', 'index')",
            (CAPTURED,),
        ).all()
        for kind, sql in sorted(rows, key=lambda row: row[0] != "table"):
            renamed = sql.replace(f"TABLE {CAPTURED} ", f"TABLE {PLAIN} ", 1)
            renamed = renamed.replace(f"ON {CAPTURED} ", f"ON {PLAIN} ", 1)
            if kind == "index":
                renamed = renamed.replace(f"ix_{CAPTURED}_", f"ix_{PLAIN}_", 1)
            connection.exec_driver_sql(renamed)


def seed(engine: sa.Engine) -> None:
    """The same rows in both tables (the captured ones get their insert versions)."""
    with db.write_transaction(engine) as connection:
        for table in (CAPTURED, PLAIN):
            connection.execute(
                sa.text(
                    f"INSERT INTO {table} (id, title, state, short_abstract, is_mail_sent,"
                    " is_locked) VALUES (:id, :title, 'pending', :abstract, false, false)"
                ),
                [
                    {"id": i, "title": f"Talk {i}", "abstract": "x" * 200}
                    for i in range(1, TABLE_ROWS + 1)
                ],
            )


def vacuum(engine: sa.Engine) -> None:
    tables = [CAPTURED, PLAIN, f"@{CAPTURED}_version@", "@transaction@"]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.exec_driver_sql(f"VACUUM ANALYZE {placed(connection, table)}")
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


Workload = Callable[[sa.Engine, str, int], None]


def _ids(start: int, count: int) -> list[int]:
    return [(start + i) % TABLE_ROWS + 1 for i in range(count)]


def _session_factory(engine: sa.Engine, table: str) -> orm.sessionmaker[orm.Session]:
    if table == CAPTURED:
        return session_factory(engine)  # type: ignore[return-value]
    return orm.sessionmaker(db.writer(engine), expire_on_commit=False)


def orm_updates(per_transaction: int) -> Workload:
    """Load the rows, assign a new title, commit: what an application does."""

    def run(engine: sa.Engine, table: str, rows: int) -> None:
        mapped = MAPPED[table]
        sessions = _session_factory(engine, table)
        with audit_context(actor="bench", origin="test"):
            for start in range(0, rows, per_transaction):
                with sessions.begin() as session:
                    ids = _ids(start, per_transaction)
                    columns = sa.inspect(mapped).columns
                    objects = session.scalars(sa.select(mapped).where(columns.id.in_(ids))).all()
                    for obj in objects:
                        obj.title = f"{table} {start} {obj.id}"

    return run


def sql_updates(per_transaction: int, *, one_statement: bool = False) -> Workload:
    """``UPDATE`` statements through SQLAlchemy Core, as another application would."""

    def run(engine: sa.Engine, table: str, rows: int) -> None:
        for start in range(0, rows, per_transaction):
            ids = _ids(start, per_transaction)
            with db.write_transaction(engine) as connection:
                if one_statement:
                    connection.execute(
                        sa.text(f"UPDATE {table} SET title = :t || id WHERE id IN :ids").bindparams(
                            sa.bindparam("ids", expanding=True)
                        ),
                        {"t": f"{table} {start} ", "ids": ids},
                    )
                else:
                    connection.execute(
                        sa.text(f"UPDATE {table} SET title = :t WHERE id = :id"),
                        [{"t": f"{table} {start} {i}", "id": i} for i in ids],
                    )

    return run


WORKLOADS: list[tuple[str, str, Workload]] = [
    ("orm", "1 row per transaction", orm_updates(1)),
    ("orm", "500 rows per transaction", orm_updates(BATCH)),
    ("sql", "1 row per transaction", sql_updates(1)),
    ("sql", "500 rows per transaction", sql_updates(BATCH)),
    ("sql", "500 rows in one statement", sql_updates(BATCH, one_statement=True)),
]
MAPPED: dict[str, type[Row]] = {}


def map_tables(engine: sa.Engine) -> None:
    """Map a class to each table from its live columns (same mapping for both)."""
    registry = orm.registry()
    metadata = sa.MetaData()
    for table in (CAPTURED, PLAIN):
        mapped = type(f"Bench_{table}", (Row,), {})
        registry.map_imperatively(mapped, sa.Table(table, metadata, autoload_with=engine))
        MAPPED[table] = mapped


def measure(engine: sa.Engine, rows: int, repetitions: int, group: str) -> list[Figure]:
    """Every workload on the plain copy and on the captured table, alternating;
    each run starts after ``VACUUM ANALYZE`` so neither pays for the other's
    dead rows."""
    figures = []
    for layer, shape, workload in WORKLOADS:
        timings: dict[str, list[float]] = {PLAIN: [], CAPTURED: []}
        for _ in range(repetitions):
            for table in (PLAIN, CAPTURED):
                vacuum(engine)
                started = time.perf_counter()
                workload(engine, table, rows)
                timings[table].append(time.perf_counter() - started)
        figures.append(
            Figure(
                group=group,
                subject=f"{layer}: {shape}",
                baseline="plain",
                samples=tuple(timings[CAPTURED]),
                baseline_samples=tuple(timings[PLAIN]),
                target=TARGETS.get((engine.dialect.name, shape)),
                note="audittrail capture",
            )
        )
    return figures


def run_backend(backend: str, rows: int, repetitions: int, group: str) -> list[Figure]:
    """Our capture against plain writes on a throwaway database of ``backend``."""
    with throwaway_database(backend) as engine:
        create_plain_copy(engine)
        seed(engine)
        map_tables(engine)
        return measure(engine, rows, repetitions, group)
