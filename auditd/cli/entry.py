"""The first code ``audittrail`` runs: signal handlers, then everything else.

Importing the program (SQLAlchemy, psycopg2, the models, the scheduler) takes
a second or more on a busy machine. The stop and reload handlers of
:mod:`auditd.daemon.signals` are installed before that, so a SIGTERM in the
first second of ``serve`` is an orderly stop (exit 0), not a kill.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from auditd.daemon.signals import SIGNALS


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``audittrail`` command; returns the process exit code."""
    SIGNALS.install()
    from auditd.cli.main import main as run_command

    return run_command(argv)


if __name__ == "__main__":
    sys.exit(main())
