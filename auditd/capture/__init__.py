"""Database-level change capture: one writer of version rows for everyone.

Triggers on every versioned table write Continuum-shaped version rows (and
the transaction row) for ORM writes, bulk statements, raw SQL and other
applications alike, and keep ``last_modified_at`` stamped in the same
statement. The generators (:mod:`.postgresql`, :mod:`.sqlite`) build them
from registry entries and the trigger tables (:mod:`.triggers`);
:func:`install` is called by migrations and ``adopt``, :func:`verify` backs
``audittrail verify``; :mod:`.attribution` hands the writer's identity to
the triggers; :mod:`.version_tables` builds version tables for adopted
tables.
"""

from auditd.capture.generator import GENERATOR_VERSION
from auditd.capture.install import drop, drop_guards, drop_shared, install, install_ddl, shared_ddl
from auditd.capture.verify import CaptureProblem, verify

__all__ = [
    "GENERATOR_VERSION",
    "CaptureProblem",
    "drop",
    "drop_guards",
    "drop_shared",
    "install",
    "install_ddl",
    "shared_ddl",
    "verify",
]
