"""One timestamp column type: stores UTC, returns timezone-aware UTC.

PostgreSQL stores ``timestamp with time zone`` (an absolute instant, so the
session's ``TimeZone`` cannot shift it); psycopg2 returns it in the session's
zone and we convert to UTC. SQLite has no time type: SQLAlchemy stores the
text ``YYYY-MM-DD HH:MM:SS.ffffff``, which must be UTC and offset-free so that
string comparison orders instants correctly; the capture triggers write the
same shape (see :data:`SQLITE_NOW`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLite's clock in the exact text shape SQLAlchemy uses for DateTime: 'now' is
# UTC and fixed for the duration of one statement; %f gives milliseconds, so
# three zeros pad it to the six fractional digits SQLAlchemy writes.
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend; naive values are refused.

    A naive value is ambiguous (local time? UTC?), and guessing is how audit
    trails end up hours off, so binding one raises ``ValueError``.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give a timezone")
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
