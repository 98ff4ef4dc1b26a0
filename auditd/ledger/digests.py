"""External digests: the latest block's digest, and files of digests.

An operator stores each digest outside the database (``audittrail digest
>> digests.jsonl``, or ``ledger.digest_file`` in the daemon). A file holds
one JSON object per line, as :meth:`Digest.to_json` writes it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from auditd.errors import ConfigError, NotFoundError, UsageError
from auditd.ledger.blocks import Digest, latest_block
from auditd.timeparse import in_utc

__all__ = ["append_digest", "latest_digest", "read_digest_file"]

_FIELDS = {"block": int, "last_transaction_id": int, "hash": str, "sealed_at": str}


def latest_digest(connection: sa.Connection) -> Digest:
    """The digest of the latest block; NotFoundError before the first seal."""
    block = latest_block(connection)
    if block is None:
        raise NotFoundError("the ledger has no block yet", "run `audittrail seal` first")
    return block.digest()


def _parse_line(text: str, where: str) -> Digest:
    hint = "each line must be one JSON object as `audittrail digest` prints it"
    try:
        data = json.loads(text)
    except ValueError:
        raise UsageError(f"{where} is not JSON", hint) from None
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        raise UsageError(f"{where} is not a digest (needs {', '.join(_FIELDS)})", hint)
    for name, kind in _FIELDS.items():
        if not isinstance(data[name], kind) or isinstance(data[name], bool):
            raise UsageError(f"{where}: {name} must be a {kind.__name__}", hint)
    if len(data["hash"]) != 64 or any(c not in "0123456789abcdef" for c in data["hash"]):
        raise UsageError(f"{where}: hash must be 64 lowercase hex digits", hint)
    try:
        parsed = datetime.fromisoformat(data["sealed_at"])
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError(f"{where}: sealed_at is not an ISO 8601 time with offset", hint)
    sealed_at = in_utc(parsed, f"{where}: sealed_at")
    return Digest(
        block=data["block"],
        last_transaction_id=data["last_transaction_id"],
        hash=data["hash"],
        sealed_at=sealed_at,
    )


def read_digest_file(path: Path) -> tuple[Digest, ...]:
    """Every digest in ``path`` (blank lines ignored). UsageError, naming the
    file and line, for a file that cannot be read or a line that is not a digest."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise UsageError(
            f"cannot read digests file {str(path)!r}: {reason}",
            "give a file written by `audittrail digest` or ledger.digest_file",
        ) from None
    digests = tuple(
        _parse_line(line, f"{path} line {number}")
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    )
    if not digests:
        raise UsageError(f"digests file {str(path)!r} holds no digest", "it is empty")
    return digests


def require_appendable(path: Path) -> None:
    """ConfigError unless digests can be appended to ``path`` (created if
    missing): checked before sealing, so that no block is sealed whose
    digest cannot be kept."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise ConfigError(
            f"cannot append to ledger.digest_file {str(path)!r}: {error.strerror}",
            "point ledger.digest_file at a writable file outside the database",
        ) from None


def append_digest(path: Path, digest: Digest) -> None:
    """Append ``digest`` as one line to ``path`` (created if missing), flushed to disk."""
    with path.open("a", encoding="utf-8") as stream:
        stream.write(digest.to_json() + "\n")
        stream.flush()
