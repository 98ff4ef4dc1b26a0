"""The sync watermark: which rows changed since the last sync, in commit order.

A watermark ``w`` means: every transaction with ``id < w`` is known to be
processed. A naive watermark, the largest transaction id seen, is wrong on
PostgreSQL, where ``transaction.id`` is the database's xid: xids are handed
out when a transaction first writes, not when it commits, so a transaction
with a small id can commit after one with a larger id has been seen, and
would be skipped forever.

The horizon fixes that. In one REPEATABLE READ snapshot we read
``pg_snapshot_xmin(pg_current_snapshot())`` (the oldest xid still running
when the snapshot was taken) and the keys touched by transactions with
``id >= watermark``. Every transaction with an id below the horizon had
finished before the snapshot, so the snapshot sees all of them that
committed; those at or above it may still be running, and the next sync
starts from the horizon and looks at them again. Processing a transaction
twice is harmless (repairs are idempotent); missing one is not.

On SQLite writers are serialised and ids are allocated in commit order, so
the horizon is simply ``max(id) + 1`` in the same read transaction.

The same snapshot also bounds the times below the horizon: no transaction
it sees was issued after the latest ``issued_at`` it sees, and it sees every
transaction below the horizon. Stored with the next watermark, that bound
lets the next sync skip the older history of a changed row once one of the
row's new versions is at least as recent (see
:class:`~auditd.stamps.derive.HistoryBound`). Only capture writes
transactions, always above the horizon of every earlier snapshot; the one
writer of older ids, the import of Open Event's history, clears the bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from auditd.models.audit import TRANSACTION
from auditd.stamps.derive import DerivedStamp
from auditd.stamps.repair import without_jit
from auditd.stamps.watermark import Watermark
from auditd.timestamps import UTCDateTime

__all__ = [
    "Changes",
    "changes_since",
    "next_watermark",
    "read_horizon",
    "snapshot_watermark",
]


@dataclass(frozen=True, kw_only=True)
class Changes:
    """The rows touched by transactions from ``watermark`` on (up to ``reached``'s
    horizon, and possibly later).

    ``keys[stamp.table]`` maps each touched key to the smallest transaction
    id at or above the watermark that touched it, so a sync that could not
    repair a row (locked by someone else) can hold the next watermark there.
    ``reached``: the watermark of the snapshot the keys were read in (its
    horizon and latest ``issued_at``).
    """

    watermark: Watermark
    reached: Watermark
    keys: Mapping[str, Mapping[int, int]] = field(default_factory=dict)

    def count(self) -> int:
        """The number of touched rows, over all stamped tables."""
        return sum(len(keys) for keys in self.keys.values())


def read_horizon(connection: sa.Connection) -> int:
    """Every transaction with a smaller id is finished and visible to ``connection``'s snapshot.

    On PostgreSQL call it as the first statement of a REPEATABLE READ
    transaction, so that later reads in the same transaction share the
    snapshot it describes.
    """
    if connection.dialect.name == "postgresql":
        horizon = connection.scalar(
            sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        )
    else:
        horizon = connection.scalar(
            sa.select(sa.func.coalesce(sa.func.max(TRANSACTION.c.id), 0) + 1)
        )
    assert horizon is not None
    return int(horizon)


def snapshot_watermark(connection: sa.Connection) -> Watermark:
    """The watermark of everything ``connection``'s snapshot sees: its horizon,
    and the latest ``issued_at`` in it (one probe of the ``issued_at`` index).

    Call it where :func:`read_horizon` says.
    """
    horizon = read_horizon(connection)
    latest = sa.type_coerce(sa.func.max(TRANSACTION.c.issued_at), UTCDateTime())
    issued_at: datetime | None = connection.scalar(sa.select(latest))
    return Watermark(transaction_id=horizon, issued_at=issued_at)


def _touched_keys(stamp: DerivedStamp, watermark: int) -> sa.Select[int, int]:
    """``(key, smallest transaction id >= watermark)`` for every key ``stamp`` derives from
    a version written at or after the watermark; each branch is a range scan of
    the version table's transaction_id index."""
    branches = []
    for source in stamp.sources:
        version = source.table_clause()
        branches.append(
            sa.select(
                version.c[source.column].label("key"),
                version.c.transaction_id.label("transaction_id"),
            ).where(version.c.transaction_id >= watermark)
        )
    touched = sa.union_all(*branches).subquery("touched")
    return sa.select(touched.c.key, sa.func.min(touched.c.transaction_id)).group_by(touched.c.key)


def changes_since(
    engine: sa.Engine, watermark: Watermark, stamps: Sequence[DerivedStamp]
) -> Changes:
    """The horizon and the keys touched since ``watermark``, read from one snapshot.

    Read-only. Raises SQLAlchemy's ``OperationalError`` if the database is
    unreachable.
    """
    if engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        engine = engine.execution_options(**options)
    with engine.connect() as connection, connection.begin():
        reached = snapshot_watermark(connection)  # first: the snapshot is taken here
        without_jit(connection)
        since = watermark.transaction_id
        keys = {
            stamp.table: {
                int(key): int(first)
                for key, first in connection.execute(_touched_keys(stamp, since))
                if key is not None
            }
            for stamp in stamps
        }
    return Changes(watermark=watermark, reached=reached, keys=keys)


def next_watermark(changes: Changes, unprocessed: Mapping[str, Iterable[int]]) -> Watermark:
    """Where the next sync starts: the horizon, held back to the first transaction
    of any row that this sync touched but could not process (``unprocessed``
    keys per table), so that the next sync looks at that row again. Its time
    bound is the snapshot's: every transaction below the horizon was in it."""
    watermark = changes.reached.transaction_id
    for table, keys in unprocessed.items():
        first = changes.keys.get(table, {})
        for key in keys:
            if key in first:
                watermark = min(watermark, first[key])
    return Watermark(
        transaction_id=max(watermark, changes.watermark.transaction_id),
        issued_at=changes.reached.issued_at,
    )
