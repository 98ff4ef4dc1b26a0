"""One versioned table as this database has it: a registry entry.

A :class:`VersionedTable` says everything that capture, derivation, verify
and history need to know about a table: its key, the versioned columns as
they exist in the database (with the kind of value each holds), the version
table, the stamp column it carries, the parent whose stamp it moves, and
how history names its rows, and where its objects live (the live table's
schema, the audit schema and the transaction table: generated SQL
qualifies every name with them, so it is correct whatever search_path the
writing role has). Entries are plain frozen data, serialised to a
canonical JSON text (sorted keys, sorted sets) so that every process reads
and hashes exactly the same thing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from auditd.models.namespace import LEGACY, qualify
from auditd.models.versioned import Membership

ColumnKind = Literal["plain", "timestamp", "boolean", "json"]
COLUMN_KINDS: tuple[ColumnKind, ...] = ("plain", "timestamp", "boolean", "json")


@dataclass(frozen=True, kw_only=True)
class VersionedColumn:
    """A versioned column: its name, the kind of value it holds (how history
    reads it back), and whether PostgreSQL must compare it as text because
    its type has no equality operator (``json``, ``xml``, ...)."""

    name: str
    kind: ColumnKind = "plain"
    compare_as_text: bool = False


@dataclass(frozen=True, kw_only=True)
class ParentStamp:
    """An association column whose parent row's stamp moves with it
    (a speakers change is a change of the session)."""

    column: str
    parent_table: str
    parent_key: str
    stamp_column: str


@dataclass(frozen=True, kw_only=True)
class VersionedTable:
    """The versioned shape of one table in one database.

    ``columns`` are the versioned columns in version-table order (the key
    included); ``stamp_column`` is the derived ``last_modified_at`` if the
    table has one; ``parents`` the stamps an association moves; ``model`` the
    name history commands use for its rows (None for an association, whose
    ``membership`` says whose pseudo-field it is); ``event_column`` the
    column naming a row's event.
    """

    table: str
    version_table: str
    key: tuple[str, ...]
    columns: tuple[VersionedColumn, ...]
    stamp_column: str | None = None
    parents: tuple[ParentStamp, ...] = ()
    model: str | None = None
    event_column: str | None = None
    membership: Membership | None = None
    table_schema: str | None = None
    audit_schema: str | None = None
    transaction_table: str

    def __post_init__(self) -> None:
        names = self.column_names
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"{self.table}: key columns {missing} are not versioned columns")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The versioned columns outside the key."""
        return tuple(c.name for c in self.columns if c.name not in self.key)

    @property
    def text_compared(self) -> tuple[str, ...]:
        """The columns PostgreSQL compares as text."""
        return tuple(c.name for c in self.columns if c.compare_as_text)

    @property
    def qualified_table(self) -> str:
        """The live table, quoted and schema-qualified."""
        return qualify(self.table_schema, self.table)

    @property
    def qualified_version_table(self) -> str:
        """The version table, quoted and schema-qualified."""
        return qualify(self.audit_schema, self.version_table)

    @property
    def qualified_transaction_table(self) -> str:
        """The transaction table, quoted and schema-qualified."""
        return qualify(self.audit_schema, self.transaction_table)

    def kind(self, column: str) -> ColumnKind:
        return next((c.kind for c in self.columns if c.name == column), "plain")

    def to_json(self) -> str:
        """The canonical serialisation: equal entries give equal text in every process."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> VersionedTable:
        data: dict[str, Any] = json.loads(text)
        membership = data.get("membership")
        return cls(
            table=data["table"],
            version_table=data["version_table"],
            key=tuple(data["key"]),
            columns=tuple(VersionedColumn(**column) for column in data["columns"]),
            stamp_column=data.get("stamp_column"),
            parents=tuple(ParentStamp(**parent) for parent in data.get("parents", ())),
            model=data.get("model"),
            event_column=data.get("event_column"),
            membership=None if membership is None else Membership(**membership),
            # Entries stored before revision 0010 describe the legacy layout.
            table_schema=data.get("table_schema"),
            audit_schema=data.get("audit_schema"),
            transaction_table=data.get("transaction_table", LEGACY.transaction_table()),
        )
