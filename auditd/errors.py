"""The one family of exceptions for user mistakes and unusable environments.

Every error a user can cause or fix is an :class:`AuditdError`. The command line
prints it as one line (``error: <message> (<hint>)``) and exits with the
subclass's ``exit_code``; anything else is a bug and shows a traceback.
Exit codes are part of the interface (documented in the README and used by
``RestartPreventExitStatus=`` in the systemd unit), so never renumber them.
"""

from __future__ import annotations


class AuditdError(Exception):
    """Base class: a problem the user can understand and fix."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(AuditdError):
    """Bad command-line arguments or API arguments (ids, dates, zones, names)."""

    exit_code = 2


class ConfigError(AuditdError):
    """The configuration file, environment or flags are invalid."""

    exit_code = 3


class DatabaseAccessError(ConfigError):
    """The database refuses this configuration: credentials, privileges, a
    read-only file. Configuration-class: retrying cannot fix it."""


class DatabaseUnavailableError(AuditdError):
    """The database cannot be reached (network, credentials, missing file)."""

    exit_code = 4


class SchemaMismatchError(AuditdError):
    """The database schema is not at the migration head this build expects."""

    exit_code = 5


class AlreadyRunningError(AuditdError):
    """Another process is doing this work: another ``serve`` owns this SQLite
    database file, or another prune removed a batch first."""

    exit_code = 6


class NotFoundError(AuditdError):
    """A requested row, version or transaction does not exist."""

    exit_code = 7


class CaptureError(AuditdError):
    """Change-capture triggers are missing, outdated or cannot be installed."""

    exit_code = 8


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, unwrapping a SQLAlchemy
    database error to the driver's own; the error's type if it has none."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__


# Where an integrity error sends the reader; the command line names its command.
INTEGRITY_HINT = "the audit rows were changed outside capture; verify the ledger's integrity"


class IntegrityError(AuditdError):
    """History does not match its sealed ledger or its own validity linkage:
    someone changed audit rows outside capture (``verify --integrity``)."""

    exit_code = 9
