"""What the capture triggers of one table must record.

A :class:`CaptureSpec` is plain data, so a migration can pin the exact
column list it installed (history must not change when the models do), and
``adopt`` can build one from a live table it has never seen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

# Bump when the generated SQL changes shape, so `verify` flags old triggers.
GENERATOR_VERSION = 4


@dataclass(frozen=True, kw_only=True)
class ParentStamp:
    """An association column whose parent row's stamp moves with it
    (a speakers change is a change of the session)."""

    column: str
    parent_table: str
    parent_key: str
    stamp_column: str


@dataclass(frozen=True, kw_only=True)
class CaptureSpec:
    """The versioned shape of one table.

    ``columns`` are the versioned columns in version-table order (the key
    included); ``stamp_column`` is the derived ``last_modified_at`` if the
    table has one; ``text_compare`` names columns whose type has no equality
    operator on PostgreSQL (``json``), compared as text.
    """

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    version_table: str = ""
    stamp_column: str | None = None
    text_compare: frozenset[str] = field(default_factory=frozenset)
    parents: tuple[ParentStamp, ...] = ()

    def __post_init__(self) -> None:
        if not self.version_table:
            object.__setattr__(self, "version_table", f"{self.table}_version")
        missing = [k for k in self.key if k not in self.columns]
        if missing:
            raise ValueError(f"{self.table}: key columns {missing} are not versioned columns")

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.key)

    @property
    def fingerprint(self) -> str:
        """A short hash of everything the generated SQL depends on."""
        text = repr((GENERATOR_VERSION, self))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """Serialise for the ``audittrail_capture`` registry."""
        return json.dumps(
            {
                "table": self.table,
                "version_table": self.version_table,
                "key": list(self.key),
                "columns": list(self.columns),
                "stamp_column": self.stamp_column,
                "text_compare": sorted(self.text_compare),
                "parents": [vars(p) for p in self.parents],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> CaptureSpec:
        data = json.loads(text)
        return cls(
            table=data["table"],
            version_table=data["version_table"],
            key=tuple(data["key"]),
            columns=tuple(data["columns"]),
            stamp_column=data["stamp_column"],
            text_compare=frozenset(data["text_compare"]),
            parents=tuple(ParentStamp(**p) for p in data["parents"]),
        )

    def marker(self) -> str:
        """The comment embedded in generated SQL; `verify` looks for it."""
        return f"audittrail-capture {self.table} {self.fingerprint}"


def quote(name: str) -> str:
    """Quote an identifier for both PostgreSQL and SQLite."""
    return '"' + name.replace('"', '""') + '"'
