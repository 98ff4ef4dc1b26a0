"""Adopt a database that already has data but no history.

An Open Event Server database (or any database with our table names) gets a
version table per known table built from the columns the table really has,
the audit tables of the initial migration, capture triggers, one baseline
version per existing row and a correct ``last_modified_at``.

Every step is idempotent and every write is bounded: the baseline and the
stamp repair walk each table in key order, one batch per transaction, so an
interrupted run is simply run again and continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from auditd import capture, migrate, registry
from auditd.capture import version_tables
from auditd.config.parse import BATCH_SIZE_RANGE
from auditd.db import writer
from auditd.errors import CaptureError, UsageError, first_line
from auditd.models.audit import TRANSACTION, Adoption
from auditd.models.namespace import PREFIX, current_layout
from auditd.models.versioned import DECLARATIONS, DECLARED_TABLES
from auditd.registry import VersionedTable, quote
from auditd.stamps.derive import DerivedStamp, derived_stamps, stamp_update
from auditd.stamps.statistics import analyze
from auditd.timestamps import SQLITE_NOW, utcnow

DEFAULT_BATCH_SIZE = 5000
adoption: sa.Table = Adoption.__table__  # type: ignore[assignment]


@dataclass(frozen=True, kw_only=True)
class TableAdoption:
    """What adoption did to one table in this run."""

    table: str
    version_table: str
    columns: tuple[str, ...]
    created_version_table: bool = False
    added_version_columns: tuple[str, ...] = ()
    added_stamp_column: bool = False
    installed_triggers: bool = False
    baseline_versions: int = 0
    stamps_repaired: int = 0


@dataclass(frozen=True, kw_only=True)
class AdoptionResult:
    """The outcome of :func:`adopt`; ``complete`` is False when it stopped early."""

    tables: tuple[TableAdoption, ...]
    untouched_tables: tuple[str, ...]
    baseline_transaction_id: int | None
    revision: str | None
    batches: int
    complete: bool

    @property
    def changed(self) -> bool:
        """Whether this run changed anything at all."""
        return any(
            t.created_version_table
            or t.added_version_columns
            or t.added_stamp_column
            or t.installed_triggers
            or t.baseline_versions
            or t.stamps_repaired
            for t in self.tables
        )


@dataclass(frozen=True)
class BatchDone:
    """Reported to the ``progress`` callback after each committed batch."""

    phase: str  # "baseline" or "stamps"
    table: str
    rows: int
    batches: int
    walked: int = 0  # rows of the table this batch went over
    total: int | None = None  # rows of the table when its phase began


@dataclass
class _Run:
    engine: sa.Engine
    batch_size: int
    max_batches: int | None
    progress: Callable[[BatchDone], None] | None
    batches: int = 0
    stopped: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def may_continue(self) -> bool:
        if self.max_batches is not None and self.batches >= self.max_batches:
            self.stopped = True
        return not self.stopped

    def done(self, phase: str, table: str, rows: int, walked: int, total: int) -> None:
        self.batches += 1
        key = "baseline_versions" if phase == "baseline" else "stamps_repaired"
        self.counts.setdefault(table, {}).setdefault(key, 0)
        self.counts[table][key] += rows
        if self.progress is not None:
            self.progress(BatchDone(phase, table, rows, self.batches, walked, total))


def adopt(
    engine: sa.Engine,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    actor: str | None = None,
    progress: Callable[[BatchDone], None] | None = None,
) -> AdoptionResult:
    """Put an existing database under audit; safe to run again at any time.

    Creates a version table per known table from its live columns (adding
    ``sessions.last_modified_at`` if missing), runs the migrations in adopt
    mode, installs the capture triggers, writes one baseline version per
    existing row (all in one ``baseline`` transaction) and repairs
    ``last_modified_at``. ``max_batches`` stops after that many batches
    (``complete`` is then False; run again to continue). Raises
    :class:`UsageError` for a database with none of the known tables or one
    created by ``audittrail migrate``, and :class:`CaptureError` when an
    existing history is in the way or privileges are missing.
    """
    low, high = BATCH_SIZE_RANGE
    if not low <= batch_size <= high:
        raise UsageError(f"batch size must be between {low} and {high}, got: {batch_size}")
    if max_batches is not None and max_batches < 0:
        raise UsageError(f"max batches must not be negative, got: {max_batches}")
    run = _Run(engine, batch_size, max_batches, progress)
    try:
        untouched = _preflight(engine)
        revision = migrate.upgrade(engine, adopt=True)
        plans = _prepare_schema(engine)
        installed = _install_capture(engine, plans)
        tx = _baseline_transaction(engine, actor)
        for plan in plans:
            _write_baseline(run, plan, tx)
        # The baseline is the bulk of every version table: plan the stamp
        # repair, and the daemon's first passes, with statistics that know it.
        analyze(
            engine,
            sorted(
                {p.entry.qualified_transaction_table for p in plans}
                | {p.entry.qualified_version_table for p in plans}
            ),
        )
        if not run.stopped:
            stamps = derived_stamps(registry.Registry(tuple(p.entry for p in plans)))
            for stamp in stamps:
                _repair_stamps(run, stamp)
            analyze(engine, [stamp.qualified_name for stamp in stamps])
    except (sa.exc.ProgrammingError, sa.exc.OperationalError) as error:
        if _lacks_privilege(error):
            raise CaptureError(
                f"adopt lacks a privilege: {first_line(error)}",
                "it needs CREATE on the schema, ownership of the adopted tables"
                " and the right to create functions (see docs/capture.md)",
            ) from error
        raise
    tables = tuple(
        TableAdoption(
            table=p.entry.table,
            version_table=p.entry.version_table,
            columns=p.entry.column_names,
            created_version_table=p.created_version_table,
            added_version_columns=p.added_version_columns,
            added_stamp_column=p.added_stamp_column,
            installed_triggers=p.entry.table in installed,
            baseline_versions=run.counts.get(p.entry.table, {}).get("baseline_versions", 0),
            stamps_repaired=run.counts.get(p.entry.table, {}).get("stamps_repaired", 0),
        )
        for p in plans
    )
    return AdoptionResult(
        tables=tables,
        untouched_tables=untouched,
        baseline_transaction_id=tx,
        revision=revision,
        batches=run.batches,
        complete=not run.stopped,
    )


def adopted_tables(connection: sa.Connection) -> list[str]:
    """The tables this database adopted (empty unless `adopt` ran)."""
    schema = current_layout(connection).schema
    if not sa.inspect(connection).has_table(adoption.name, schema=schema):
        return []
    return list(connection.scalars(sa.select(adoption.c.table_name).order_by("table_name")))


@dataclass(frozen=True)
class _Plan:
    entry: VersionedTable
    created_version_table: bool
    added_version_columns: tuple[str, ...]
    added_stamp_column: bool


def _preflight(engine: sa.Engine) -> tuple[str, ...]:
    """Refuse a database adopt must not touch; returns the tables it leaves alone."""
    with engine.connect() as connection:
        layout = current_layout(connection)
        tables = registry.catalog.table_names(connection)
        audit_tables = registry.catalog.table_names(connection, layout.schema)
        adopted = bool(adopted_tables(connection))
        registered = (
            bool(registry.load(connection)) if registry.REGISTRY_TABLE in audit_tables else False
        )
    known = [t for t in DECLARED_TABLES if t in tables]
    if not known:
        raise UsageError(
            f"none of the tables audittrail versions exist ({', '.join(DECLARED_TABLES)})",
            "point the database URL at an Open Event database;"
            " for a new one run `audittrail migrate`",
        )
    revision = migrate.current_revision(engine)
    if not adopted and revision is not None and registered:
        raise UsageError(
            "this database was created by `audittrail migrate` and is not an adopted one",
            "use `audittrail migrate` to upgrade it; adopt is for databases created without it",
        )
    # Our names are reserved (see auditd.models.namespace): an application's
    # own history (Open Event's transaction and events_version) is not in
    # the way, only audit tables left behind without our revision.
    if revision is None:
        ours = {layout.transaction_table(), *(layout.version_table(t) for t in known)}
        clashes = sorted(ours & audit_tables)
        if clashes:
            raise CaptureError(
                f"an earlier audittrail history is in the way: {', '.join(clashes)} already exist",
                "adopt cannot take over an existing history; drop or rename those tables first",
            )
    return tuple(sorted(t for t in tables - set(known) if not t.startswith(PREFIX)))


def _prepare_schema(engine: sa.Engine) -> list[_Plan]:
    """Stamp columns, version tables and the adoption record, in one transaction."""
    plans: list[_Plan] = []
    with writer(engine).begin() as connection:
        tables = registry.catalog.table_names(connection)
        audit_tables = registry.catalog.table_names(connection, current_layout(connection).schema)
        recorded = set(adopted_tables(connection))
        added = {
            d.table: version_tables.ensure_stamp_column(connection, d.table)
            for d in DECLARATIONS
            if d.stamped and d.table in tables
        }
        for entry in registry.from_catalog(connection):
            created = entry.version_table not in audit_tables
            if created:
                version_tables.create_version_table(connection, entry)
            new_columns = () if created else version_tables.add_version_columns(connection, entry)
            stamp_added = added.get(entry.table, False)
            plans.append(_Plan(entry, created, new_columns, stamp_added))
            if entry.table not in recorded:
                connection.execute(
                    adoption.insert().values(
                        table_name=entry.table,
                        version_table=entry.version_table,
                        added_stamp_column=stamp_added,
                        adopted_at=utcnow(),
                    )
                )
    return plans


def _install_capture(engine: sa.Engine, plans: list[_Plan]) -> set[str]:
    """Version-table indexes and triggers; returns the tables whose triggers changed."""
    installed = set()
    with writer(engine).begin() as connection:
        for plan in plans:
            version_tables.create_indexes(connection, plan.entry)
        registered = {entry.table: entry for entry in registry.load(connection)}
        for plan in plans:
            entry = plan.entry
            # Reinstalling unchanged triggers would still rewrite the registry;
            # a rerun must change nothing.
            if registered.get(entry.table) == entry and not capture.verify(connection, [entry]):
                continue
            capture.install(connection, [entry])
            installed.add(entry.table)
    return installed


def _baseline_transaction(engine: sa.Engine, actor: str | None) -> int:
    """The one ``baseline`` transaction of this database (created once)."""
    with writer(engine).begin() as connection:
        existing = connection.scalar(sa.select(sa.func.min(adoption.c.baseline_transaction_id)))
        if existing is not None:
            return int(existing)
        reason = "baseline of the rows that existed before audittrail adopt"
        if connection.dialect.name == "postgresql":
            values: dict[str, Any] = {
                "id": sa.text("pg_current_xact_id()::text::bigint"),
                "issued_at": sa.func.statement_timestamp(),
                "application": sa.func.nullif(sa.func.current_setting("application_name"), ""),
            }
        else:
            values = {"issued_at": sa.text(SQLITE_NOW)}
        statement = (
            TRANSACTION.insert()
            .values(actor=actor, origin="baseline", reason=reason, **values)
            .returning(TRANSACTION.c.id)
        )
        tx = int(connection.execute(statement).scalar_one())
        connection.execute(adoption.update().values(baseline_transaction_id=tx))
    return tx


def _key_range(
    connection: sa.Connection,
    table: str,
    key: Sequence[str],
    after: Any,
    batch_size: int,
    lock: str,
) -> tuple[tuple[Any, ...], int] | None:
    """Lock the next ``batch_size`` rows of ``table`` (quoted and qualified) in
    key order; returns the last key and how many rows the batch holds.

    The lock makes concurrent writers of these rows wait until the batch
    commits; the statements that follow take a fresh snapshot, so they see
    every version those writers committed before, and the triggers of later
    writers see this batch's versions.
    """
    cols = ", ".join(quote(k) for k in key)
    # Every key column descends: "ORDER BY a, b DESC" would sort only the
    # last one backwards and pick a row in the middle of the batch.
    descending = ", ".join(f"{quote(k)} DESC" for k in key)
    where = f"WHERE ({cols}) > ({', '.join(f':a{i}' for i in range(len(key)))})" if after else ""
    locking = f" FOR {lock}" if connection.dialect.name == "postgresql" else ""
    params = {f"a{i}": v for i, v in enumerate(after or ())} | {"n": batch_size}
    row = connection.execute(
        sa.text(
            f"SELECT {cols}, count(*) OVER () FROM (SELECT {cols} FROM {table} {where}"
            f" ORDER BY {cols} LIMIT :n{locking}) batch ORDER BY {descending} LIMIT 1"
        ),
        params,
    ).first()
    return (tuple(row[:-1]), int(row[-1])) if row is not None else None


def _range_condition(
    alias: str, key: Sequence[str], after: Any, last: Sequence[Any]
) -> tuple[str, dict[str, Any]]:
    cols = ", ".join(f"{alias}.{quote(k)}" for k in key)
    upper = ", ".join(f":b{i}" for i in range(len(key)))
    params = {f"b{i}": v for i, v in enumerate(last)}
    condition = f"({cols}) <= ({upper})"
    if after:
        condition += f" AND ({cols}) > ({', '.join(f':a{i}' for i in range(len(key)))})"
        params |= {f"a{i}": v for i, v in enumerate(after)}
    return condition, params


def _in_batches(
    run: _Run,
    phase: str,
    table: str,
    qualified_table: str,
    key: Sequence[str],
    lock: str,
    done: sa.Column[Any],
    write: Callable[[sa.Connection, Any, tuple[Any, ...]], int],
) -> None:
    """Walk ``table`` in key order, one committed batch at a time, until done
    (recorded in ``done``, so a later run skips the table) or stopped."""
    with run.engine.connect() as connection:
        if connection.scalar(sa.select(done).where(adoption.c.table_name == table)) is not None:
            return
        # For the progress line's done/total and ETA; rows a batch skips
        # (already versioned, stamp already right) count as walked.
        total = int(connection.scalar(sa.text(f"SELECT count(*) FROM {qualified_table}")) or 0)
    after: tuple[Any, ...] | None = None
    while run.may_continue():
        with writer(run.engine).begin() as connection:
            found = _key_range(connection, qualified_table, key, after, run.batch_size, lock)
            if found is None:
                connection.execute(
                    adoption.update()
                    .where(adoption.c.table_name == table)
                    .values({done.name: utcnow()})
                )
                return
            last, walked = found
            rows = write(connection, after, last)
        run.done(phase, table, rows, walked, total)
        after = last


def _write_baseline(run: _Run, plan: _Plan, tx: int) -> None:
    """One insert version per row that has no version yet, batch by batch."""
    spec = plan.entry
    cols = ", ".join(quote(c) for c in spec.column_names)
    source = ", ".join(f"t.{quote(c)}" for c in spec.column_names)
    match = " AND ".join(f"v.{quote(k)} = t.{quote(k)}" for k in spec.key)

    def write(connection: sa.Connection, after: Any, last: tuple[Any, ...]) -> int:
        condition, params = _range_condition("t", spec.key, after, last)
        return connection.execute(
            sa.text(
                f"INSERT INTO {spec.qualified_version_table}"
                f" ({cols}, transaction_id, end_transaction_id, operation_type)"
                f" SELECT {source}, :tx, NULL, 0 FROM {spec.qualified_table} t"
                f" WHERE {condition} AND NOT EXISTS"
                f" (SELECT 1 FROM {spec.qualified_version_table} v WHERE {match})"
            ),
            params | {"tx": tx},
        ).rowcount

    _in_batches(
        run,
        "baseline",
        spec.table,
        spec.qualified_table,
        spec.key,
        "SHARE",
        adoption.c.baseline_done_at,
        write,
    )


def _repair_stamps(run: _Run, stamp: DerivedStamp) -> None:
    """Set each row's stamp to its derived value where it is missing or wrong."""

    def write(connection: sa.Connection, after: Any, last: tuple[Any, ...]) -> int:
        def within(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
            upper = column <= last[0]
            return upper if after is None else sa.and_(column > after[0], upper)

        return len(connection.execute(stamp_update(stamp, within, connection.dialect.name)).all())

    _in_batches(
        run,
        "stamps",
        stamp.table,
        stamp.qualified_name,
        (stamp.key,),
        "NO KEY UPDATE",
        adoption.c.stamps_done_at,
        write,
    )


def _lacks_privilege(error: sa.exc.DBAPIError) -> bool:
    message = first_line(error)
    return "permission denied" in message or "must be owner" in message
