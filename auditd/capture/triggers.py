"""The one table of capture triggers per backend: name, timing, event, function.

Install, drop and verify all read these tables, so a trigger cannot be
created under one name and checked or dropped under another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from auditd.registry import VersionedTable

Role = Literal["capture", "truncate", "stamp", "insert", "update", "rekey", "delete"]


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """One trigger a versioned table carries.

    ``role`` names what it runs: on PostgreSQL the table's function of that
    role (``audittrail_<table>_<role>``), on SQLite the body of that role.
    ``needs`` is the part of the entry without which the trigger is not
    created: a stamp column, or value columns (an association is all key, so
    its updates are rekeys).
    """

    name: str
    timing: Literal["BEFORE", "AFTER"]
    event: Literal["INSERT", "UPDATE", "DELETE", "TRUNCATE"]
    per_row: bool
    role: Role
    needs: Literal["stamp_column", "value_columns"] | None = None

    def applies_to(self, entry: VersionedTable) -> bool:
        if self.needs == "stamp_column":
            return entry.stamp_column is not None
        if self.needs == "value_columns":
            return bool(entry.value_columns)
        return True


# PostgreSQL trigger names are per table; the functions are per table too.
POSTGRESQL: tuple[Trigger, ...] = (
    Trigger(
        name="audittrail_capture_insert",
        timing="AFTER",
        event="INSERT",
        per_row=True,
        role="capture",
    ),
    Trigger(
        name="audittrail_capture_update",
        timing="AFTER",
        event="UPDATE",
        per_row=True,
        role="capture",
    ),
    Trigger(
        name="audittrail_capture_delete",
        timing="AFTER",
        event="DELETE",
        per_row=True,
        role="capture",
    ),
    Trigger(
        name="audittrail_capture_truncate",
        timing="BEFORE",
        event="TRUNCATE",
        per_row=False,
        role="truncate",
    ),
    Trigger(
        name="audittrail_stamp_insert",
        timing="BEFORE",
        event="INSERT",
        per_row=True,
        role="stamp",
        needs="stamp_column",
    ),
    Trigger(
        name="audittrail_stamp_update",
        timing="BEFORE",
        event="UPDATE",
        per_row=True,
        role="stamp",
        needs="stamp_column",
    ),
)

# SQLite trigger names are database-wide: the table's name is part of them.
SQLITE: tuple[Trigger, ...] = (
    Trigger(name="insert", timing="AFTER", event="INSERT", per_row=True, role="insert"),
    Trigger(
        name="update",
        timing="AFTER",
        event="UPDATE",
        per_row=True,
        role="update",
        needs="value_columns",
    ),
    Trigger(name="rekey", timing="AFTER", event="UPDATE", per_row=True, role="rekey"),
    Trigger(name="delete", timing="AFTER", event="DELETE", per_row=True, role="delete"),
)


def table_of(dialect: str) -> tuple[Trigger, ...]:
    """The trigger table of ``dialect`` (``postgresql`` or ``sqlite``)."""
    if dialect == "postgresql":
        return POSTGRESQL
    if dialect == "sqlite":
        return SQLITE
    raise ValueError(f"unsupported database backend: {dialect}")


def trigger_name(dialect: str, trigger: Trigger, table: str) -> str:
    """The name ``trigger`` has on ``table``."""
    return trigger.name if dialect == "postgresql" else f"audittrail_{table}_{trigger.name}"


def function_name(table: str, role: Role) -> str:
    """PostgreSQL: the name of ``table``'s function of ``role``."""
    return f"audittrail_{table}_{role}"


def expected(dialect: str, entry: VersionedTable) -> dict[str, Trigger]:
    """Trigger name -> trigger, for every trigger ``entry``'s table must carry."""
    return {
        trigger_name(dialect, trigger, entry.table): trigger
        for trigger in table_of(dialect)
        if trigger.applies_to(entry)
    }
