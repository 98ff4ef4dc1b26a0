"""The registry as stored in the database, read by every process.

``audittrail_capture`` holds one canonical JSON entry per versioned table
(:class:`~auditd.registry.entry.VersionedTable`). Migrations and
``audittrail adopt`` write it when they install capture; capture, verify,
the daemon's jobs and the history API read it, so all of them agree on the
tables, keys and columns of this database.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from auditd.errors import SchemaMismatchError
from auditd.models.audit import RegistryEntry
from auditd.registry.entry import VersionedTable
from auditd.timestamps import utcnow

_registry: sa.Table = RegistryEntry.__table__  # type: ignore[assignment]
REGISTRY_TABLE = _registry.name


@dataclass(frozen=True)
class Registry:
    """Every versioned table of one database, in table-name order."""

    entries: tuple[VersionedTable, ...]

    def __iter__(self) -> Iterator[VersionedTable]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, table: str) -> VersionedTable | None:
        return next((entry for entry in self.entries if entry.table == table), None)

    def models(self) -> tuple[VersionedTable, ...]:
        """The entries whose rows history addresses by model name."""
        return tuple(entry for entry in self.entries if entry.model is not None)

    def memberships_of(self, table: str) -> tuple[VersionedTable, ...]:
        """The association entries that are pseudo-fields of ``table``'s rows."""
        return tuple(
            entry
            for entry in self.entries
            if entry.membership is not None and entry.membership.parent_table == table
        )

    def stamped(self) -> tuple[VersionedTable, ...]:
        """The entries that carry a derived stamp column."""
        return tuple(entry for entry in self.entries if entry.stamp_column is not None)


# Keyed by the engine's pool, which every execution_options() copy of the
# engine shares.
_cache: weakref.WeakKeyDictionary[sa.Pool, Registry] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def load(connection: sa.Connection, *, cached: bool = False) -> Registry:
    """The registry of the connection's database.

    With ``cached``, the registry read earlier through the same engine is
    reused: the history API reads it once per engine, and a schema change
    made by another process (``adopt``, ``migrate``) is seen by engines
    created after it. Changes made through :func:`save` and :func:`remove`
    in this process clear the cache. Raises :class:`SchemaMismatchError`
    when the database has no registry (neither migrated nor adopted).
    """
    if cached:
        with _cache_lock:
            known = _cache.get(connection.engine.pool)
        if known is not None:
            return known
    query = sa.select(_registry.c.spec).order_by(_registry.c.table_name)
    try:
        rows = connection.execute(query).scalars().all()
    except (sa.exc.ProgrammingError, sa.exc.OperationalError) as error:
        if REGISTRY_TABLE not in str(error.orig):
            raise
        raise SchemaMismatchError(
            "this database has no audittrail registry",
            "run `audittrail migrate` for a new database, `audittrail adopt` for an existing one",
        ) from None
    loaded = Registry(tuple(VersionedTable.from_json(text) for text in rows))
    with _cache_lock:
        _cache[connection.engine.pool] = loaded
    return loaded


def _forget(connection: sa.Connection) -> None:
    with _cache_lock:
        _cache.pop(connection.engine.pool, None)


def save(connection: sa.Connection, entries: Iterable[VersionedTable]) -> None:
    """Record (or replace) each entry, inside the caller's transaction."""
    _forget(connection)
    for entry in entries:
        connection.execute(_registry.delete().where(_registry.c.table_name == entry.table))
        connection.execute(
            _registry.insert().values(
                table_name=entry.table, spec=entry.to_json(), installed_at=utcnow()
            )
        )


def remove(connection: sa.Connection, tables: Iterable[str]) -> None:
    """Forget the entries of ``tables``, inside the caller's transaction."""
    _forget(connection)
    for table in tables:
        connection.execute(_registry.delete().where(_registry.c.table_name == table))
