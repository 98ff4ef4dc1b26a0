"""The capture SQL this build generates for the models' tables, as golden text.

Shared by the golden-file tests and by the command that records new golden
files after a generator change::

    .venv/bin/python tests/golden_capture.py   # rewrites tests/golden/capture/
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from auditd import capture, registry
from auditd.models.namespace import AUDIT_SCHEMA, Layout

GOLDEN = Path(__file__).parent / "golden" / "capture"
DIALECTS = ("postgresql", "sqlite")


def models_registry(dialect: str) -> tuple[registry.VersionedTable, ...]:
    """The registry of a database our migrations made on ``dialect``, with the
    default audit schema and the live tables in ``public`` on PostgreSQL."""
    if dialect == "postgresql":
        return registry.from_models(Layout(AUDIT_SCHEMA), "public")
    return registry.from_models(Layout(None), None)


def generated() -> dict[str, str]:
    """Relative golden path -> the SQL this build generates for it."""
    files = {}
    for dialect in DIALECTS:
        entries = models_registry(dialect)
        files[f"{dialect}/_shared.sql"] = _text(capture.shared_ddl(dialect, entries[0]))
        for entry in entries:
            files[f"{dialect}/{entry.table}.sql"] = _text(capture.install_ddl(dialect, entry))
    return files


def _text(statements: list[str]) -> str:
    return "\n;\n".join(statement.strip() for statement in statements) + "\n"


def digest(files: dict[str, str]) -> str:
    """One hash over every golden file, as a migration pins it."""
    hashed = hashlib.sha256()
    for name in sorted(files):
        hashed.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return hashed.hexdigest()


def recorded() -> dict[str, str]:
    return {
        str(path.relative_to(GOLDEN)): path.read_text() for path in sorted(GOLDEN.rglob("*.sql"))
    }


def write() -> None:
    for path in GOLDEN.rglob("*.sql"):
        path.unlink()
    for name, text in generated().items():
        target = GOLDEN / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


if __name__ == "__main__":
    write()
    print(f"wrote {GOLDEN}; digest {digest(generated())}")
