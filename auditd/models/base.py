"""Declarative base with a naming convention, so migrations name constraints
the same way on every backend."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

# Index names leave the schema out (column_0_label would include it), so that
# an audit table's indexes are named alike on every backend and schema.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(orm.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
