"""SQLAlchemy-Continuum's own versioning, for comparison: one mode per process.

Continuum patches mappers and sessions globally, so its ORM mode and its
native (trigger) mode cannot share a process, nor can either share one with
auditd's models. ``python -m benchmarks`` runs this module once per mode
and backend, as ::

    python -m benchmarks.continuum --mode orm|native --backend postgresql|sqlite
        --rows N --repetitions R

which prints one JSON object: per workload, the seconds of each run on a
plain table and on the versioned one (alternating), and the version rows
the versioned runs wrote. The table is ``sessions``-shaped (title, state,
abstract, flags), as in :mod:`benchmarks.capture`, with 2,000 rows.
Native mode exists on PostgreSQL only (it needs ``hstore``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

ADMIN_URL = os.environ.get(
    "AUDITTRAIL_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
TABLE_ROWS = 2000
BATCH = 500


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'continuum.db'}"
        return
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    name = f"audittrail_bench_continuum_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _models(native: bool) -> tuple[Any, Any, Any]:
    """(versioned class, plain class, metadata), with Continuum configured."""
    from sqlalchemy_continuum import make_versioned

    make_versioned(user_cls=None, options={"native_versioning": native})

    class Base(orm.DeclarativeBase):
        pass

    columns = {
        "id": orm.mapped_column(sa.Integer, primary_key=True, autoincrement=False),
        "title": orm.mapped_column(sa.String(255), nullable=False),
        "state": orm.mapped_column(sa.String(32), nullable=False),
        "short_abstract": orm.mapped_column(sa.Text),
        "is_mail_sent": orm.mapped_column(sa.Boolean, nullable=False),
        "is_locked": orm.mapped_column(sa.Boolean, nullable=False),
    }

    def annotations() -> dict[str, Any]:
        return {name: orm.Mapped[Any] for name in columns}

    versioned = type(
        "Talk",
        (Base,),
        {
            "__tablename__": "talk",
            "__versioned__": {},
            "__annotations__": annotations(),
            **{name: column._copy() for name, column in columns.items()},
        },
    )
    plain = type(
        "PlainTalk",
        (Base,),
        {
            "__tablename__": "plain_talk",
            "__annotations__": annotations(),
            **{name: column._copy() for name, column in columns.items()},
        },
    )
    orm.configure_mappers()
    return versioned, plain, Base.metadata


Workload = Callable[[orm.sessionmaker[orm.Session], Any, int, int], None]


def _ids(start: int, count: int) -> list[int]:
    return [(start + i) % TABLE_ROWS + 1 for i in range(count)]


def orm_updates(per_transaction: int) -> Workload:
    def run(sessions: orm.sessionmaker[orm.Session], model: Any, rows: int, lap: int) -> None:
        for start in range(0, rows, per_transaction):
            with sessions.begin() as session:
                ids = _ids(start, per_transaction)
                for obj in session.scalars(sa.select(model).where(model.id.in_(ids))):
                    obj.title = f"lap {lap} {start} {obj.id}"

    return run


def one_statement(sessions: orm.sessionmaker[orm.Session], model: Any, rows: int, lap: int) -> None:
    for start in range(0, rows, BATCH):
        with sessions.begin() as session:
            ids = _ids(start, BATCH)
            session.execute(
                sa.update(model).where(model.id.in_(ids)).values(title=f"lap {lap} {start}")
            )


WORKLOADS: list[tuple[str, Workload]] = [
    ("orm: 1 row per transaction", orm_updates(1)),
    ("orm: 500 rows per transaction", orm_updates(BATCH)),
    ("sql: 500 rows in one statement", one_statement),
]


def run(mode: str, backend: str, rows: int, repetitions: int) -> dict[str, Any]:
    native = mode == "native"
    versioned, plain, metadata = _models(native)
    with _database(backend) as url:
        engine = sa.create_engine(url, poolclass=sa.NullPool if backend == "sqlite" else None)
        with engine.begin() as connection:
            if native:
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS hstore")
            metadata.create_all(connection)
        sessions = orm.sessionmaker(engine)
        if native:  # its trigger; without property-mod tracking, which fails at run time
            from sqlalchemy_continuum.dialects.postgresql import sync_trigger

            with sessions.begin() as session:
                sync_trigger(session, "talk_version", use_property_mod_tracking=False)
        with sessions.begin() as session:
            for model in (versioned, plain):
                session.add_all(
                    model(
                        id=i,
                        title=f"Talk {i}",
                        state="pending",
                        short_abstract="x" * 200,
                        is_mail_sent=False,
                        is_locked=False,
                    )
                    for i in range(1, TABLE_ROWS + 1)
                )
        results: dict[str, Any] = {}
        version_table = sa.table("talk_version")
        for lap, (label, workload) in enumerate(WORKLOADS):
            timings: dict[str, list[float]] = {"plain": [], "versioned": []}
            with engine.connect() as connection:
                before = connection.scalar(sa.select(sa.func.count()).select_from(version_table))
            for repetition in range(repetitions):
                for side, model in (("plain", plain), ("versioned", versioned)):
                    started = time.perf_counter()
                    workload(sessions, model, rows, lap * repetitions + repetition)
                    timings[side].append(time.perf_counter() - started)
            with engine.connect() as connection:
                after = connection.scalar(sa.select(sa.func.count()).select_from(version_table))
            results[label] = {**timings, "versions_written": int(after or 0) - int(before or 0)}
        engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("orm", "native"), required=True)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--repetitions", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.mode, args.backend, args.rows, args.repetitions)))


if __name__ == "__main__":
    main()
