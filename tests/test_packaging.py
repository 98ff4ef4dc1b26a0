"""The wheel an operator installs holds every package and migration of the project."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_every_package_and_every_migration(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("auditd-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    packages = [
        path.parent.relative_to(REPO).as_posix() for path in (REPO / "auditd").rglob("__init__.py")
    ]
    missing = [package for package in packages if f"{package}/__init__.py" not in shipped]
    assert not missing, f"packages left out of the wheel: {missing}"
    migrations = [path.name for path in (REPO / "migrations" / "versions").glob("0*.py")]
    assert migrations
    left_out = [m for m in migrations if f"auditd/_migrations/versions/{m}" not in shipped]
    assert not left_out, f"migrations left out of the wheel: {left_out}"
