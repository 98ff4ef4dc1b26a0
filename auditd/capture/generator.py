"""The version of the trigger generator, and the marker every generated object carries.

Each generated function or trigger embeds ``audittrail-capture <table>
<fingerprint>``: a hash of the generator version and the table's canonical
registry entry. ``audittrail verify`` compares the marker it finds with the
one this build would write, so a trigger made by an older generator, or for
other columns, is reported as outdated.

Any change to the generated SQL bumps :data:`GENERATOR_VERSION`, records
the new golden files (``tests/golden/``) and ships a migration that
reinstalls every registered table's triggers; the golden-file tests fail
until all three are done.
"""

from __future__ import annotations

import hashlib

from auditd.registry import VersionedTable

GENERATOR_VERSION = 11


def _digest(text: str) -> str:
    return hashlib.sha256(f"{GENERATOR_VERSION}\n{text}".encode()).hexdigest()[:16]


def marker(entry: VersionedTable) -> str:
    """The comment a table's generated SQL embeds."""
    return f"audittrail-capture {entry.table} {_digest(entry.to_json())}"


def shared_marker(body: str) -> str:
    """The comment of a function shared by every table, from its body."""
    return f"audittrail-capture shared {_digest(body)}"
