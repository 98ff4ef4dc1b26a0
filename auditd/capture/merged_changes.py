"""Versions that show two changes of one row under one foreign transaction row.

Up to capture generator 5, SQLite grouped the statements of writers outside
our ORM by the millisecond, so two committed changes of a row within one
millisecond shared a transaction row and the second was merged into the
first's version: the value in between vanished from history. Nothing brings
it back, and most such merges leave no trace (A to B to C looks like one
update of A to C), but two shapes can only come from two changes, or from a
change that capture never saw:

* an update version whose values equal its predecessor's (a change and its
  undoing: an update that changes nothing writes no version);
* a delete version whose values differ from its predecessor's (a change,
  then the delete: a delete records the row as it was).

Only foreign transaction rows (origin ``sql``, no actor) are searched: an
``AuditSession`` transaction may change a row several times and keeps one
version of it by design, as Continuum does. On PostgreSQL every transaction
row is one database transaction, so there is nothing to search.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from auditd.registry import VersionedTable, quote

# How many transaction ids a finding names, as examples.
EXAMPLES = 10


@dataclass(frozen=True)
class MergedChanges:
    """Versions of one table that show two changes of one row in one transaction row."""

    table: str
    versions: int
    transactions: int
    transaction_ids: tuple[int, ...]  # the first EXAMPLES of them, oldest first

    def __str__(self) -> str:
        shown = ", ".join(str(tx) for tx in self.transaction_ids)
        more = ", …" if self.transactions > len(self.transaction_ids) else ""
        return (
            f"{self.versions} version(s) show two changes of one row in one foreign transaction"
            f" (transactions {shown}{more}): history lacks the value between them"
        )


def _query(entry: VersionedTable) -> str:
    version = entry.qualified_version_table
    same_key = " AND ".join(f"p.{quote(k)} = v.{quote(k)}" for k in entry.key)
    differs = " OR ".join(f"p.{quote(c)} IS NOT v.{quote(c)}" for c in entry.value_columns)
    return (
        f"SELECT v.transaction_id FROM {version} v"
        f" JOIN {entry.qualified_transaction_table} t ON t.id = v.transaction_id"
        # the predecessor: the version this one superseded
        f" JOIN {version} p ON {same_key} AND p.end_transaction_id = v.transaction_id"
        " WHERE t.origin = 'sql' AND t.actor IS NULL"
        f" AND ((v.operation_type = 1 AND NOT ({differs}))"
        f" OR (v.operation_type = 2 AND ({differs})))"
        " ORDER BY v.transaction_id"
    )


def merged_changes(connection: sa.Connection, entry: VersionedTable) -> MergedChanges | None:
    """The versions of ``entry``'s table that show a lost change, or None.

    SQLite only (None on PostgreSQL); one scan of the version table, joined
    to each version's predecessor through the (key, ``end_transaction_id``)
    index.
    """
    if connection.dialect.name != "sqlite" or not entry.value_columns:
        return None
    found = connection.exec_driver_sql(_query(entry)).scalars().all()
    if not found:
        return None
    transactions = tuple(dict.fromkeys(int(tx) for tx in found))
    return MergedChanges(entry.table, len(found), len(transactions), transactions[:EXAMPLES])
