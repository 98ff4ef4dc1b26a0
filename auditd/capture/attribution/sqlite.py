"""The SQLite side of attribution: the one-row slot the capture triggers read.

SQLite has no per-transaction variables; its single writer makes one slot
row enough. ``audittrail_open_transaction`` holds at most one row, for the
write transaction in progress. An :class:`~auditd.capture.attribution.
session.AuditSession` fills it with its context before its first write
(``statement_stamp`` NULL) and empties it before COMMIT, so a slot without
a statement stamp belongs to the transaction in progress. A foreign writer
(the sqlite3 shell, another program) finds it empty or stamped by an earlier
statement, and the triggers give its statement a transaction row of its own
(:data:`OPEN_TRANSACTION`). Everything that reads or writes the slot is here.
"""

from __future__ import annotations

import sqlalchemy as sa

from auditd.timestamps import SQLITE_NOW

SLOT_TABLE = "audittrail_open_transaction"

# SQL expressions usable inside a trigger: the current transaction row's id
# and its issued_at.
TRANSACTION_ID = f"(SELECT transaction_id FROM {SLOT_TABLE} WHERE slot = 1)"
ISSUED_AT = f'(SELECT issued_at FROM "transaction" WHERE id = {TRANSACTION_ID})'

_SLOT_USABLE = (
    f"EXISTS (SELECT 1 FROM {SLOT_TABLE} WHERE slot = 1"
    f" AND (statement_stamp IS NULL OR statement_stamp = {SQLITE_NOW}))"
)

# The first statements of every capture trigger: make sure the slot names a
# transaction row. A slot left by a foreign writer's earlier statement (a
# different clock value) is replaced by a new 'sql' transaction; a slot an
# AuditSession published gets its transaction row on the first write.
OPEN_TRANSACTION = f"""
    INSERT INTO "transaction" (issued_at, origin)
        SELECT {SQLITE_NOW}, 'sql' WHERE NOT {_SLOT_USABLE};
    INSERT INTO {SLOT_TABLE} (slot, transaction_id, statement_stamp)
        SELECT 1, (SELECT max(id) FROM "transaction"), {SQLITE_NOW} WHERE NOT {_SLOT_USABLE}
        ON CONFLICT (slot) DO UPDATE SET transaction_id = excluded.transaction_id,
            statement_stamp = excluded.statement_stamp, actor = NULL, origin = NULL,
            reason = NULL, remote_addr = NULL;
    INSERT INTO "transaction" (issued_at, actor, origin, reason, remote_addr)
        SELECT {SQLITE_NOW}, actor, coalesce(origin, 'sql'), reason, remote_addr
          FROM {SLOT_TABLE} WHERE slot = 1 AND transaction_id IS NULL;
    UPDATE {SLOT_TABLE} SET transaction_id = (SELECT max(id) FROM "transaction")
     WHERE slot = 1 AND transaction_id IS NULL;"""

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

CURRENT_TRANSACTION = sa.text(f"SELECT transaction_id FROM {SLOT_TABLE} WHERE slot = 1")
