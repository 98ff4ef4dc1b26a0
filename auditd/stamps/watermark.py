"""Sync's watermark, stored in ``audittrail_job_state``: where the next sync
resumes, and what is known of the times below it.

A watermark is written in the transaction of the last batch it covers (see
:mod:`auditd.stamps.horizon` for how it is chosen). Its time bound lets a
sync skip the older history of a changed row
(:class:`~auditd.stamps.derive.HistoryBound`); it holds only while nothing
writes transactions below the watermark. Capture never does. An import of
older history does, and clears the bound (:func:`forget_time_bound`), so
the next sync derives every changed row from its whole history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditd import db
from auditd.models.jobs import JobState
from auditd.stamps.derive import HistoryBound
from auditd.timestamps import utcnow

__all__ = ["STATE", "Watermark", "forget_time_bound", "read_watermark", "store_watermark"]

STATE: sa.Table = JobState.__table__  # type: ignore[assignment]
SYNC_JOB = "sync"


@dataclass(frozen=True, kw_only=True)
class Watermark:
    """Where sync resumes: every transaction with an id below
    ``transaction_id`` is processed, and none of them was issued after
    ``issued_at`` (None: not known, as before a first sync)."""

    transaction_id: int = 0
    issued_at: datetime | None = None

    @property
    def bound(self) -> HistoryBound | None:
        """The history bound this watermark gives derivation, if it has one."""
        if self.issued_at is None:
            return None
        return HistoryBound(transaction_id=self.transaction_id, issued_at=self.issued_at)


def read_watermark(engine: sa.Engine) -> Watermark:
    """The stored watermark of sync (0 and no time bound before its first run:
    everything is new)."""
    query = sa.select(STATE.c.watermark, STATE.c.watermark_issued_at).where(STATE.c.job == SYNC_JOB)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None or row.watermark is None:
        return Watermark()
    return Watermark(transaction_id=int(row.watermark), issued_at=row.watermark_issued_at)


def store_watermark(
    connection: sa.Connection, watermark: Watermark, *, started_from: Watermark | None = None
) -> None:
    """Set sync's watermark inside the caller's transaction (normally the last
    batch it covers, so the two commit or roll back together).

    ``started_from``: the watermark the storing sync read when it began. If
    the stored time bound has changed since (an import cleared it while the
    sync ran), the new bound is not stored either: the sync's snapshot may
    predate the import.
    """
    insert = db.upsert(connection, STATE).values(
        job=SYNC_JOB,
        watermark=watermark.transaction_id,
        watermark_issued_at=watermark.issued_at,
        updated_at=utcnow(),
    )
    issued_at: sa.ColumnElement[Any] = insert.excluded.watermark_issued_at
    if started_from is not None:
        unchanged = STATE.c.watermark_issued_at.is_not_distinct_from(
            sa.bindparam(
                "started_issued_at", started_from.issued_at, STATE.c.watermark_issued_at.type
            )
        )
        issued_at = sa.case((unchanged, issued_at), else_=sa.null())
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["job"],
            set_={
                "watermark": insert.excluded.watermark,
                "watermark_issued_at": issued_at,
                "updated_at": insert.excluded.updated_at,
            },
        )
    )


def forget_time_bound(connection: sa.Connection) -> None:
    """Clear the stored time bound, inside the caller's transaction: for a
    writer of transactions below the watermark."""
    connection.execute(
        sa.update(STATE).where(STATE.c.job == SYNC_JOB).values(watermark_issued_at=None)
    )
