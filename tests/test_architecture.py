"""The package keeps its layers: what the import contract cannot see.

The layer contract itself (``[tool.importlinter]`` in pyproject.toml) runs
in ``make test`` as ``lint-imports``; this checks its other half: errors
raised below the command line speak of values, not of command-line flags,
which reporting scripts calling the API never typed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import auditd

PACKAGE = Path(auditd.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _strings_below_the_cli() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and FLAG.search(node.value)
            ):
                found.append((str(path.relative_to(PACKAGE)), node.lineno, node.value))
    return found


def test_no_command_line_flag_is_named_below_the_cli() -> None:
    assert _strings_below_the_cli() == []
