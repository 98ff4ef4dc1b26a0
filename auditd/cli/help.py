"""What ``audittrail COMMAND --help`` teaches: a description, examples, exit codes.

Kept in one table for every command, whichever module registers it, so that
each command's help has the same three parts and a test can hold every
command to them. The exit codes are those of :mod:`auditd.errors`.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from dataclasses import dataclass

from auditd.errors import (
    AlreadyRunningError,
    CaptureError,
    ConfigError,
    DatabaseUnavailableError,
    IntegrityError,
    NotFoundError,
    SchemaMismatchError,
    UsageError,
)

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "problems found, or the run failed",
    UsageError.exit_code: "bad command line or argument",
    ConfigError.exit_code: "invalid configuration",
    DatabaseUnavailableError.exit_code: "database unreachable, or its SQLite file does not exist",
    SchemaMismatchError.exit_code: "schema not at the migration head (run `audittrail migrate`)",
    AlreadyRunningError.exit_code: "another `serve` already owns this SQLite database",
    NotFoundError.exit_code: "no such row or transaction",
    CaptureError.exit_code: "capture triggers missing, outdated or not installable",
    IntegrityError.exit_code: "history does not match the sealed ledger or its own linkage",
}

# What every command that opens the database can end with.
_OPENS = (0, 2, 3, 4, 5)


@dataclass(frozen=True)
class CommandHelp:
    description: str
    examples: tuple[str, ...]
    exit_codes: tuple[int, ...]

    def epilog(self) -> str:
        lines = ["examples:", *(f"  {example}" for example in self.examples), "", "exit codes:"]
        meanings = {0: "success", **{c: EXIT_CODES[c] for c in self.exit_codes if c}}
        lines += [f"  {code}  {meaning}" for code, meaning in sorted(meanings.items())]
        return "\n".join(lines)


COMMANDS: dict[str, CommandHelp] = {
    "migrate": CommandHelp(
        "Upgrade the database schema to the newest revision (or to --revision), or"
        " downgrade it with --downgrade. A database that already holds tables of"
        " another application without our schema is refused: adopt it instead.",
        (
            "audittrail migrate",
            "audittrail migrate --downgrade --revision base   # remove every audittrail table",
        ),
        (0, 2, 3, 4, 5),
    ),
    "check-config": CommandHelp(
        "Validate the configuration (defaults, file, AUDITD_* variables, flags) and"
        " print the settings in effect as TOML, the password masked.",
        (
            "audittrail check-config",
            "audittrail --config /etc/audittrail/audittrail.toml check-config",
        ),
        (0, 2, 3),
    ),
    "demo": CommandHelp(
        "Load a small demo event with a history of edits into a migrated database (once).",
        ("audittrail demo && audittrail history session 1",),
        _OPENS,
    ),
    "serve": CommandHelp(
        "Run the daemon in the foreground: sync, reconcile, verify, seal (and prune, when"
        " enabled) on their schedules,"
        " with systemd notification. SIGTERM or SIGINT stops it after the current batch,"
        " SIGHUP reloads the configuration.",
        ("audittrail serve", "audittrail --config /etc/audittrail/audittrail.toml serve"),
        (0, 2, 3, 4, 5, 6),
    ),
    "jobs": CommandHelp(
        "List each job's schedule, its last run (status, time, rows) and its next run,"
        " and the sync watermark.",
        ("audittrail jobs", "audittrail jobs --format json --tz Europe/Berlin"),
        _OPENS,
    ),
    "reconcile": CommandHelp(
        "Repair last_modified_at once: the rows changed since the last sync, or with"
        " --full every row. A progress line is shown on a terminal.",
        ("audittrail reconcile", "audittrail reconcile --full --dry-run   # count only"),
        (0, 1, 2, 3, 4, 5),
    ),
    "verify": CommandHelp(
        "Count last_modified_at drift and check the capture triggers; repairs nothing."
        " With --integrity: recompute every sealed ledger block from the audit rows,"
        " check the chain of block hashes, each row's chain of versions, and the"
        " external digests given with --digests; the first broken block is reported"
        " with transaction, table and key.",
        (
            "audittrail verify || audittrail reconcile --full",
            "audittrail verify --integrity --digests /mnt/worm/audittrail-digests.jsonl",
        ),
        (0, 1, 2, 3, 4, 5, 9),
    ),
    "seal": CommandHelp(
        "Seal the committed history behind the commit horizon into the ledger now:"
        " hash-chained blocks of at most ledger.block_size transactions, each over"
        " its transactions, their versions and the links they closed. The daemon's"
        " seal job does the same on its schedule.",
        ("audittrail seal && audittrail digest >> /mnt/worm/audittrail-digests.jsonl",),
        (0, 1, 2, 3, 4, 5, 6),
    ),
    "digest": CommandHelp(
        "Print the latest ledger block's digest as one JSON line: block number, last"
        " sealed transaction id, hash and sealed time (ISO 8601, UTC). Store it outside"
        " the database; verify --integrity --digests compares it.",
        ("audittrail digest >> /mnt/worm/audittrail-digests.jsonl",),
        (0, 2, 3, 4, 5, 7),
    ),
    "prune": CommandHelp(
        "Remove sealed versions and transactions issued more than retention.keep_days"
        " ago, in batches, each recorded as a prune block of the ledger; each row's"
        " current version and the one its last_modified_at derives from stay. Refused"
        " while retention.keep_days is 0. --dry-run counts and removes nothing.",
        (
            "audittrail --config /etc/audittrail/audittrail.toml prune --dry-run",
            "audittrail prune && audittrail verify --integrity",
        ),
        (0, 1, 2, 3, 4, 5, 6),
    ),
    "adopt": CommandHelp(
        "Put an existing database (such as Open Event Server's) under audit: version"
        " tables from the live columns, the audit tables and the capture triggers, one"
        " baseline version per existing row, and last_modified_at repaired. Safe to"
        " interrupt and to run again. A progress line is shown on a terminal. With"
        " --import-legacy, Open Event's own history of events becomes the history before"
        " the baseline (its times read in --legacy-timezone).",
        (
            "audittrail --database-url postgresql://audit@db/openevent adopt",
            "audittrail adopt --batch-size 5000 --max-batches 100   # a slice in quiet hours",
            "audittrail adopt --import-legacy --legacy-timezone Asia/Singapore",
        ),
        (0, 2, 3, 4, 5, 8),
    ),
    "roles": CommandHelp(
        "PostgreSQL only. Create or check the role layout: the audit owner (NOLOGIN,"
        " created if missing) owns the audit tables, the version tables, the versioned"
        " tables and the capture functions; application roles may write the versioned"
        " tables and publish their context, nothing else; the daemon role reads history"
        " and updates stamps; the reader role reads. Idempotent. Runs as a superuser or"
        " the database owner; the other roles must exist.",
        (
            "audittrail roles --app-role openevent --reader-role reporting"
            " --daemon-role audittrail --dry-run",
            "audittrail roles --app-role openevent --app-role importer --reader-role reporting",
        ),
        (0, 2, 3, 4, 5),
    ),
    "history": CommandHelp(
        "Every change of one row, newest first: transaction, time, actor, origin,"
        " operation, each field's old and new value (a session's speakers included),"
        " reason and client.",
        ("audittrail history session 42", "audittrail history event 3 --order oldest --format csv"),
        (0, 2, 3, 4, 5, 7),
    ),
    "show": CommandHelp(
        "A row as it was at a time (default now), with its latest change by then;"
        " after a deletion, 'deleted' and its last values.",
        (
            "audittrail show session 42",
            "audittrail show session 42 --at 2027-03-01T09:00 --tz Europe/Berlin",
        ),
        (0, 2, 3, 4, 5, 7),
    ),
    "changes": CommandHelp(
        "The change feed, oldest first, in pages of whole transactions. Every format"
        " carries the cursor: pass it back as --after-transaction to get each change"
        " exactly once (0 starts from the beginning). --follow keeps printing new"
        " changes as they commit, until interrupted.",
        (
            "audittrail changes --after-transaction 0 --limit 100 --format jsonl",
            "audittrail changes --follow --after-transaction 81234 --format jsonl | consumer",
        ),
        (0, 2, 3, 4, 5),
    ),
    "who-changed": CommandHelp(
        "Each change of one field of one row (or of a session's speakers): who, when,"
        " why, old and new value.",
        (
            "audittrail who-changed session 42 starts_at",
            "audittrail who-changed session 42 speakers",
        ),
        (0, 2, 3, 4, 5, 7),
    ),
    "revert": CommandHelp(
        "Restore a row (and a session's speakers) to its state right after a"
        " transaction, re-creating it if it was deleted; recorded as a change with"
        " origin 'revert'. --dry-run shows the difference and writes nothing.",
        (
            "audittrail revert session 42 --to 81234 --dry-run",
            'audittrail revert session 42 --to 81234 --reason "undo accidental move"',
        ),
        (0, 2, 3, 4, 5, 7),
    ),
    "report": CommandHelp(
        "Counts of changes in [--since, --until), by day, actor, model or field;"
        " --chart also draws the changes over time as an SVG bar chart (bars per day,"
        " week or month, by the length of the range).",
        (
            "audittrail report --since 2026-11-01 --until 2026-12-01 --tz UTC --by actor",
            "audittrail report --since 2026-01-01T00:00Z --until 2027-01-01T00:00Z --chart y.svg",
        ),
        (0, 2, 3, 4, 5),
    ),
}


def document(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Give every registered command its description, examples and exit codes.

    The epilog keeps its line breaks (RawDescriptionHelpFormatter), so the
    description is wrapped here, to the width argparse itself would use.
    """
    width = max(shutil.get_terminal_size().columns - 2, 40)
    for name, parser in commands.choices.items():
        entry = COMMANDS.get(name)
        if entry is None:
            continue  # a test holds every command to having an entry
        parser.description = textwrap.fill(entry.description, width)
        parser.epilog = entry.epilog()
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
