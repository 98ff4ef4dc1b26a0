"""Import Open Event Server's own history of events, from before adoption.

Open Event keeps a SQLAlchemy-Continuum history of ``events`` (strategy
``subquery``): its ``transaction`` table (bigint ids, naive ``issued_at``,
``remote_addr``, ``user_id``) and ``events_version`` (no
``end_transaction_id``). :func:`import_legacy` copies it into our history of
``events``, before the adoption baseline, and leaves Open Event's tables
untouched:

* each of its transaction rows that versioned events becomes one of ours,
  with id ``open_event_id - LEGACY_ID_OFFSET`` (see below), ``issued_at``
  read in the zone the operator names and stored in UTC, the user as actor
  (the ``users`` row's e-mail when that table has one, else
  ``user:<id>``), its ``remote_addr``, origin ``legacy``;
* each ``events_version`` row becomes one of our versions of ``events``
  with the columns the live table still has (the others are reported, the
  live columns the old rows lack are NULL), and the validity chain is
  built: each version ends where the next one of its row begins, the last
  imported one where our first (the baseline) begins;
* the import itself is recorded as one transaction with origin ``import``,
  written last: a database that has it is fully imported. The same
  transaction clears the time bound of sync's watermark
  (:mod:`auditd.stamps.watermark`): the imported transactions lie below it.

Imported ids are negative: ``LEGACY_ID_OFFSET`` (2^62) is above any id
PostgreSQL hands out (our ids are 64-bit xids, below 2^62 for millennia)
and above Open Event's sequence, so an imported id never collides with one
of ours and sorts before all of them, in Open Event's order. The commit-order
horizon stays correct: it only ever moves over ids PostgreSQL assigned, and
every imported transaction lies below any horizon, finished long ago (the
incremental sync never needs them: their times are older than the baseline
that follows them). The change feed serves transactions after a cursor of 0
or more, so it begins with the adoption baseline; ``history``, ``show``,
``who-changed`` and ``report`` see the imported changes.

PostgreSQL only (Open Event Server runs on it). Resumable: the transactions
and versions are copied in batches of Open Event transaction ids, each batch
its own transaction and idempotent (``ON CONFLICT DO NOTHING``); the chain
and the closing ``import`` transaction are one last transaction, followed by
``ANALYZE`` of the two tables it filled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from auditd import registry
from auditd.capture import append_only
from auditd.db import writer
from auditd.errors import UsageError
from auditd.models.audit import TRANSACTION
from auditd.models.versioned import VERSION_META_COLUMNS
from auditd.registry import VersionedTable, catalog, qualify, quote
from auditd.stamps.statistics import analyze
from auditd.stamps.watermark import forget_time_bound
from auditd.timeparse import parse_zone

LEGACY_ID_OFFSET = 2**62
LEGACY_TABLE = "events"
# Open Event's own history tables (its names, not ours: see auditd.models.namespace).
OPEN_EVENT_TRANSACTIONS = "transaction"
OPEN_EVENT_USERS = "users"
LEGACY_ORIGIN = "legacy"
IMPORT_ORIGIN = "import"


@dataclass(frozen=True, kw_only=True)
class LegacyImport:
    """What :func:`import_legacy` did in this run.

    ``skipped_columns`` are the columns of Open Event's version table that
    the live table no longer has (not imported); ``missing_columns`` the live
    columns the old versions lack (NULL in the imported versions).
    """

    transactions: int
    versions: int
    skipped_columns: tuple[str, ...]
    missing_columns: tuple[str, ...]
    import_transaction_id: int | None
    already_imported: bool


def check_import(engine: sa.Engine, zone: str) -> None:
    """UsageError unless Open Event's history can be imported from this
    database with ``zone``: checked before ``adopt`` writes anything."""
    parse_zone(zone)
    if engine.dialect.name != "postgresql":
        raise UsageError(
            "importing Open Event's history needs PostgreSQL",
            "Open Event Server databases are PostgreSQL databases",
        )
    legacy_versions = f"{LEGACY_TABLE}_version"  # Continuum's default naming, as Open Event's
    with engine.connect() as connection:
        names = catalog.table_names(connection)
    if OPEN_EVENT_TRANSACTIONS not in names or legacy_versions not in names:
        raise UsageError(
            f"this database has no Open Event history of {LEGACY_TABLE}"
            f" ({OPEN_EVENT_TRANSACTIONS} and {legacy_versions})",
            "nothing to import: adopt it without importing a legacy history",
        )


def import_legacy(
    engine: sa.Engine,
    *,
    zone: str,
    actor: str | None = None,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> LegacyImport:
    """Import Open Event's history of events into ours; safe to run again.

    ``zone`` (an IANA name) is the zone Open Event's naive ``issued_at``
    values were written in; it is never guessed. ``progress`` is called with
    (transactions done, total) after each batch. Raises :class:`UsageError`
    for an unknown zone, a SQLite database, a database without Open Event's
    history or one where ``events`` is not adopted yet.
    """
    check_import(engine, zone)
    with engine.connect() as connection:
        entry = registry.load(connection).get(LEGACY_TABLE)
        if entry is None:
            raise UsageError(f"{LEGACY_TABLE} is not adopted yet", "run `audittrail adopt` first")
        source = _source(connection, entry)
        done = connection.scalar(
            sa.select(TRANSACTION.c.id).where(TRANSACTION.c.origin == IMPORT_ORIGIN)
        )
    if done is not None:
        return LegacyImport(
            transactions=0,
            versions=0,
            skipped_columns=source.skipped,
            missing_columns=source.missing,
            import_transaction_id=int(done),
            already_imported=True,
        )
    transactions = versions = 0
    after, total = -1, source.transaction_count(engine)
    while True:
        with writer(engine).begin() as connection:
            last = connection.scalar(
                sa.text(
                    f"SELECT max(id) FROM (SELECT DISTINCT transaction_id AS id"
                    f" FROM {source.versions} WHERE transaction_id > :after"
                    " ORDER BY 1 LIMIT :n) batch"
                ),
                {"after": after, "n": batch_size},
            )
            if last is None:
                break
            bounds = {"after": after, "last": last, "zone": zone, "offset": LEGACY_ID_OFFSET}
            transactions += connection.execute(source.copy_transactions(), bounds).rowcount
            versions += connection.execute(source.copy_versions(), bounds).rowcount
        after = int(last)
        if progress is not None:
            progress(min(transactions, total), total)
    with writer(engine).begin() as connection:
        # Linking the imported versions to ours updates committed history:
        # the sanctioned path, open to the audit owner's rights only.
        with append_only.retention(connection, (entry.version_table,)):
            connection.execute(sa.text(source.build_chain()), {"offset": LEGACY_ID_OFFSET})
        imported = connection.scalar(
            sa.select(sa.func.count()).where(TRANSACTION.c.id < 0).select_from(TRANSACTION)
        )
        reason = (
            f"import of Open Event's history of {LEGACY_TABLE}: {imported} transactions,"
            f" issued_at read in {zone}"
        )
        import_id = int(connection.execute(_import_transaction(actor, reason)).scalar_one())
        # Transactions below sync's watermark, issued at times it never saw.
        forget_time_bound(connection)
    # The import grew both tables: plan the next queries with statistics that know it.
    analyze(engine, [entry.qualified_transaction_table, entry.qualified_version_table])
    return LegacyImport(
        transactions=transactions,
        versions=versions,
        skipped_columns=source.skipped,
        missing_columns=source.missing,
        import_transaction_id=import_id,
        already_imported=False,
    )


def _import_transaction(actor: str | None, reason: str) -> sa.Insert:
    return (
        TRANSACTION.insert()
        .values(
            id=sa.text("pg_current_xact_id()::text::bigint"),
            issued_at=sa.func.statement_timestamp(),
            actor=actor,
            origin=IMPORT_ORIGIN,
            reason=reason,
            application=sa.func.nullif(sa.func.current_setting("application_name"), ""),
        )
        .returning(TRANSACTION.c.id)
    )


@dataclass(frozen=True)
class _Source:
    """Open Event's history tables and how their rows map onto ours."""

    entry: VersionedTable
    transactions: str  # Open Event's transaction table, quoted and qualified
    versions: str  # its events_version, quoted and qualified
    actor: str  # SQL: the actor of Open Event transaction row ``t``
    columns: dict[str, str]  # our column -> SQL reading it from legacy version ``v``
    skipped: tuple[str, ...]
    missing: tuple[str, ...]

    def transaction_count(self, engine: sa.Engine) -> int:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    sa.text(f"SELECT count(DISTINCT transaction_id) FROM {self.versions}")
                )
                or 0
            )

    def copy_transactions(self) -> sa.TextClause:
        # Naive issued_at AT TIME ZONE zone: the instant it was in that zone.
        return sa.text(
            f"INSERT INTO {self.entry.qualified_transaction_table}"
            " (id, issued_at, actor, origin, remote_addr)"
            f" SELECT t.id - :offset, t.issued_at AT TIME ZONE :zone, {self.actor},"
            f" '{LEGACY_ORIGIN}', t.remote_addr FROM {self.transactions} t"
            f" WHERE t.id > :after AND t.id <= :last"
            # The batch's own versions only: not a scan of them all per batch.
            f" AND t.id IN (SELECT transaction_id FROM {self.versions}"
            " WHERE transaction_id > :after AND transaction_id <= :last)"
            " ON CONFLICT (id) DO NOTHING"
        )

    def copy_versions(self) -> sa.TextClause:
        names = ", ".join(quote(c) for c in self.columns)
        values = ", ".join(self.columns.values())
        keys = ", ".join(quote(k) for k in self.entry.key)
        return sa.text(
            f"INSERT INTO {self.entry.qualified_version_table}"
            f" ({names}, transaction_id, end_transaction_id, operation_type)"
            f" SELECT {values}, v.transaction_id - :offset, NULL, v.operation_type"
            f" FROM {self.versions} v"
            " WHERE v.transaction_id > :after AND v.transaction_id <= :last"
            f" ON CONFLICT ({keys}, transaction_id) DO NOTHING"
        )

    def build_chain(self) -> str:
        """Each imported version ends where the next version of its row
        begins (an imported one, or our first); the last of a row deleted
        before adoption stays its current version."""
        version = self.entry.qualified_version_table
        same = " AND ".join(f"n.{quote(k)} = v.{quote(k)}" for k in self.entry.key)
        return (
            f"UPDATE {version} v SET end_transaction_id ="
            f" (SELECT min(n.transaction_id) FROM {version} n"
            f" WHERE {same} AND n.transaction_id > v.transaction_id)"
            " WHERE v.transaction_id < 0"
        )


def _source(connection: sa.Connection, entry: VersionedTable) -> _Source:
    schema = entry.table_schema
    legacy_versions = f"{LEGACY_TABLE}_version"  # Continuum's default naming, as Open Event's
    names = catalog.table_names(connection, schema)
    if OPEN_EVENT_TRANSACTIONS not in names or legacy_versions not in names:
        raise UsageError(
            f"this database has no Open Event history of {LEGACY_TABLE}"
            f" ({OPEN_EVENT_TRANSACTIONS} and {legacy_versions})",
            "nothing to import: adopt it without importing a legacy history",
        )
    legacy = catalog.column_types(connection, legacy_versions, schema)
    ours = catalog.column_types(connection, entry.version_table, entry.audit_schema)
    live = [c for c in entry.column_names if c in ours]
    columns = {}
    for column in live:
        if column not in legacy:
            continue
        kind, target = legacy[column], ours[column]
        reference = f"v.{quote(column)}"
        if kind.startswith("timestamp without") and target.startswith("timestamp with "):
            reference = f"({reference} AT TIME ZONE :zone)"
        elif kind != target:
            reference = f"CAST({reference} AS {target})"
        columns[column] = reference
    user_columns = (
        catalog.column_types(connection, OPEN_EVENT_USERS, schema)
        if OPEN_EVENT_USERS in names
        else {}
    )
    email = next((c for c in ("_email", "email") if c in user_columns), None)
    fallback = "'user:' || t.user_id"
    actor = (
        f"coalesce((SELECT u.{quote(email)} FROM {qualify(schema, OPEN_EVENT_USERS)} u"
        f" WHERE u.id = t.user_id), {fallback})"
        if email
        else fallback
    )
    return _Source(
        entry=entry,
        transactions=qualify(schema, OPEN_EVENT_TRANSACTIONS),
        versions=qualify(schema, legacy_versions),
        actor=actor,
        columns=columns,
        skipped=tuple(c for c in legacy if c not in live and c not in VERSION_META_COLUMNS),
        missing=tuple(c for c in live if c not in legacy),
    )
