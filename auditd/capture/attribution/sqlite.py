"""The SQLite side of attribution: the one-row slot the capture triggers read.

SQLite has no per-transaction variables; its single writer makes one slot
row enough. ``audittrail_open_transaction`` holds at most one row, naming
the transaction row that the write in progress is recorded under.

* An :class:`~auditd.capture.attribution.session.AuditSession` fills it
  with its context before its first write (``statement_stamp`` NULL) and
  empties it before COMMIT: every statement of its transaction, savepoints
  included, shares one transaction row.
* Any other writer (the sqlite3 shell, another program) cannot be seen
  beginning or committing a transaction, so the triggers give each of its
  statements a transaction row of its own, and the slot they fill is a
  *statement's* slot, valid only while that statement goes on.

What tells one statement from the next inside a trigger is the connection's
``total_changes()``: SQLite adds a statement's own row changes to it only
when the statement completes, never while its rows are being changed. So
every capture trigger leaves in the slot the value the counter will have
when the trigger ends; the next row of the same statement finds it
unchanged, and the first row of any later statement of that connection
finds it grown by at least the row that fired the trigger. The steps of
trigger programs are counted as they complete, inside the statement:
foreign-key actions are such programs, so a statement's cascades, when the
connection enforces foreign keys, are recorded under a new transaction row
after each completed cascade step. Three more signs of another statement
also catch a statement of another *connection*, whose counter may happen to
hold the same value: a new statement clock (millisecond resolution), a new
``changes()`` (the row count of the connection's previous statement), and a
row that already has a version under the slot's transaction row (one
statement changes a row once). The clock, ``changes()`` and the counter
make up ``statement_stamp``.

Everything that reads or writes the slot is here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from auditd.models.audit import OpenTransaction
from auditd.registry import quote
from auditd.timestamps import SQLITE_NOW

SLOT_TABLE = str(OpenTransaction.__tablename__)

# SQL expressions usable inside a trigger: the current transaction row's id
# and (from the transaction table named) its issued_at.
TRANSACTION_ID = f"(SELECT transaction_id FROM {SLOT_TABLE} WHERE slot = 1)"


def issued_at(transaction_table: str) -> str:
    """The current transaction row's issued_at, as an expression in a trigger."""
    return f"(SELECT issued_at FROM {quote(transaction_table)} WHERE id = {TRANSACTION_ID})"


# The statement as a capture trigger sees it on entry: the statement clock;
# changes(), which SQLite restores after each trigger program, so that it
# stays the row count of the connection's previous statement until this one
# ends; and total_changes(), which the rows of this statement join only
# when it ends. The same for every row of one statement (a trigger's own
# writes are accounted for by MARK_STATEMENT).
_STATEMENT_STAMP = f"({SQLITE_NOW} || ' ' || changes() || ' ' || total_changes())"


def open_transaction(transaction_table: str, versioned_rows: Sequence[tuple[str, str]]) -> str:
    """The first statements of a capture trigger: make the slot name the
    transaction row the change is recorded under.

    ``versioned_rows`` holds, for each row the trigger writes a version of,
    the (quoted) version table and the condition matching that row's key,
    its columns qualified by the table. A slot a foreign writer's statement
    filled is kept only for the same statement, and only if none of those
    rows has a version under its transaction row yet; otherwise it is
    reset, and the change gets a new 'sql' transaction row. A slot an
    AuditSession published (no stamp) is kept, and gets its transaction
    row, with the session's context, on the first write, in
    ``transaction_table``.
    """
    transactions = quote(transaction_table)
    already_versioned = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} WHERE {match}"
        f" AND {table}.transaction_id = {SLOT_TABLE}.transaction_id)"
        for table, match in versioned_rows
    )
    return f"""
    INSERT INTO {SLOT_TABLE} (slot, transaction_id, statement_stamp)
        SELECT 1, NULL, {_STATEMENT_STAMP} WHERE true
        ON CONFLICT (slot) DO UPDATE SET transaction_id = NULL,
            statement_stamp = excluded.statement_stamp,
            actor = NULL, origin = NULL, reason = NULL, remote_addr = NULL
        WHERE {SLOT_TABLE}.statement_stamp IS NOT NULL
          AND ({SLOT_TABLE}.statement_stamp IS NOT excluded.statement_stamp
               OR {already_versioned});
    INSERT INTO {transactions} (issued_at, actor, origin, reason, remote_addr)
        SELECT {SQLITE_NOW}, actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM {SLOT_TABLE} WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE {SLOT_TABLE} SET transaction_id = (SELECT max(id) FROM {transactions})
     WHERE slot = 1 AND transaction_id IS NULL;"""


# The last statement of every capture trigger: the stamp of a foreign
# statement's slot ends in the connection's total_changes() as it will be
# when the trigger ends (this UPDATE's own row is counted right after it),
# which is what the statement's next row will see on entry.
MARK_STATEMENT = (
    f"UPDATE {SLOT_TABLE} SET statement_stamp ="
    " rtrim(statement_stamp, '0123456789') || (total_changes() + 1)"
    " WHERE slot = 1 AND statement_stamp IS NOT NULL;"
)

# A slot without a statement stamp is this transaction's own (published
# before a savepoint): its transaction row is kept, as on PostgreSQL.
PUBLISH = sa.text(
    f"INSERT INTO {SLOT_TABLE}"
    " (slot, transaction_id, statement_stamp, actor, origin, reason, remote_addr)"
    " VALUES (1, NULL, NULL, :actor, :origin, :reason, :remote_addr)"
    f" ON CONFLICT (slot) DO UPDATE SET transaction_id = CASE"
    f" WHEN {SLOT_TABLE}.statement_stamp IS NULL"
    f" THEN {SLOT_TABLE}.transaction_id END, statement_stamp = NULL,"
    " actor = excluded.actor, origin = excluded.origin, reason = excluded.reason,"
    " remote_addr = excluded.remote_addr"
)

# Run before COMMIT: the slot must not outlive its transaction, or the next
# writer would be filed under it.
CLEAR = sa.text(f"DELETE FROM {SLOT_TABLE}")

CURRENT_TRANSACTION = sa.select(OpenTransaction.transaction_id).where(OpenTransaction.slot == 1)
