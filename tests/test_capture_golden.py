"""The generated capture SQL is pinned: golden files, and the migration that ships it.

A change to the trigger generator changes what every database runs on each
write. It must show up as a reviewed diff of ``tests/golden/capture/``
(``.venv/bin/python tests/golden_capture.py`` records it), come with a new
``GENERATOR_VERSION`` (so ``verify`` flags triggers made by the old one) and
with a migration that reinstalls every registered table's triggers and pins
the new golden digest (``CAPTURE_GENERATOR`` / ``CAPTURE_SQL_DIGEST``).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import auditd._migrations.versions as versions
import golden_capture  # type: ignore[import-not-found]

from auditd.capture import GENERATOR_VERSION


def _migrations_shipping_a_generator() -> list[ModuleType]:
    modules = [
        importlib.import_module(f"{versions.__name__}.{info.name}")
        for info in pkgutil.iter_modules(versions.__path__)
    ]
    return [m for m in modules if hasattr(m, "CAPTURE_GENERATOR")]


def test_generated_capture_sql_equals_the_golden_files() -> None:
    generated = golden_capture.generated()
    recorded = golden_capture.recorded()
    assert sorted(generated) == sorted(recorded), "golden files missing or left over"
    for name, text in generated.items():
        assert text == recorded[name], (
            f"generated SQL for {name} differs from tests/golden/capture/{name}: record it with"
            " `.venv/bin/python tests/golden_capture.py`, bump GENERATOR_VERSION and add a"
            " migration that reinstalls the triggers (see auditd/capture/generator.py)"
        )


def test_the_golden_sql_is_shipped_by_a_migration_of_this_generator_version() -> None:
    shipping = _migrations_shipping_a_generator()
    newest = max(shipping, key=lambda m: m.CAPTURE_GENERATOR)
    assert newest.CAPTURE_GENERATOR == GENERATOR_VERSION, (
        f"GENERATOR_VERSION is {GENERATOR_VERSION} but the newest migration that installs"
        f" triggers ships generator {newest.CAPTURE_GENERATOR}"
    )
    assert golden_capture.digest(golden_capture.recorded()) == newest.CAPTURE_SQL_DIGEST, (
        f"the golden SQL changed without a new generator: {newest.__name__} pins generator"
        f" {GENERATOR_VERSION} with other SQL; bump GENERATOR_VERSION and add a migration"
    )


def test_each_generator_version_is_shipped_once() -> None:
    shipped = [m.CAPTURE_GENERATOR for m in _migrations_shipping_a_generator()]
    assert len(shipped) == len(set(shipped))
