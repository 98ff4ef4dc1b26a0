"""What every command handler gets: settings, engine, output streams."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa

from auditd import db
from auditd.config import Settings, load_settings


@dataclass
class CommandContext:
    """Lazily loads settings and the engine, so `--help` needs neither."""

    args: argparse.Namespace
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _settings: Settings | None = None
    _engine: sa.Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            overrides: dict[str, object] = {}
            if getattr(self.args, "database_url", None):
                overrides["database.url"] = self.args.database_url
            if getattr(self.args, "log_level", None):
                overrides["logging.level"] = self.args.log_level
            config = getattr(self.args, "config", None)
            self._settings = load_settings(Path(config) if config else None, overrides=overrides)
        return self._settings

    @property
    def engine(self) -> sa.Engine:
        """The engine of an existing database, after one successful ``SELECT 1``.

        Opening creates nothing: a SQLite file that does not exist is a
        :class:`DatabaseUnavailableError` (exit 4), with no file or folder made.
        """
        return self.open_engine(create=False)

    def open_engine(self, *, create: bool) -> sa.Engine:
        """The engine; with ``create``, a SQLite file and its folder are made
        when missing (``migrate``), otherwise they must exist."""
        if self._engine is None:
            settings = self.settings.database
            if create:
                db.ensure_sqlite_folder(settings)
            else:
                db.require_sqlite_file(settings)
            engine = db.create_engine(settings)
            db.check_connection(engine, settings)
            self._engine = engine
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
