"""The registry: one description of every versioned table, shared by all layers.

Built from the models' declarations (:mod:`auditd.models.versioned`) and the
columns each table really has (:func:`from_catalog`), stored in the
database (:func:`load`, :func:`save`), and read by capture, derivation,
adopt, verify, the history API and the command line. No other module names
a versioned table.
"""

from auditd.models.namespace import qualify, quote
from auditd.registry.build import from_catalog, from_models
from auditd.registry.entry import (
    COLUMN_KINDS,
    ColumnKind,
    ParentStamp,
    VersionedColumn,
    VersionedTable,
)
from auditd.registry.store import REGISTRY_TABLE, Registry, load, remove, save

__all__ = [
    "COLUMN_KINDS",
    "REGISTRY_TABLE",
    "ColumnKind",
    "ParentStamp",
    "Registry",
    "VersionedColumn",
    "VersionedTable",
    "from_catalog",
    "from_models",
    "load",
    "qualify",
    "quote",
    "remove",
    "save",
]
