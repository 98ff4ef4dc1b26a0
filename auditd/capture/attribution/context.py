"""Who is writing, from where and why: the context ORM writes carry."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from auditd.errors import UsageError

ORIGINS = frozenset({"api", "cli", "job", "sql", "baseline", "revert", "demo", "test"})


@dataclass(frozen=True, kw_only=True)
class AuditContext:
    """Who is writing, from where and why; stored on each transaction row.

    Raises :class:`UsageError` for an unknown origin, an empty or oversized
    actor, an oversized remote address, or text holding a NUL character
    (which no database column can store).
    """

    actor: str | None = None
    origin: str = "api"
    reason: str | None = None
    remote_addr: str | None = None

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise UsageError(
                f"unknown origin {self.origin!r}", f"one of: {', '.join(sorted(ORIGINS))}"
            )
        for name in ("actor", "reason", "remote_addr"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise UsageError(f"{name} must be text, got {type(value).__name__}")
            if value is not None and "\x00" in value:
                raise UsageError(f"{name} must not contain a NUL character")
        if self.actor is not None and not (0 < len(self.actor) <= 255):
            raise UsageError("actor must be 1 to 255 characters")
        if self.remote_addr is not None and len(self.remote_addr) > 50:
            raise UsageError("remote_addr must be at most 50 characters")


_current: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "audittrail_context",
    default=AuditContext(),  # noqa: B039 - frozen, so sharing the default is safe
)


@contextmanager
def audit_context(
    actor: str | None = None,
    origin: str = "api",
    reason: str | None = None,
    remote_addr: str | None = None,
) -> Iterator[AuditContext]:
    """Attribute the ORM writes made inside the block.

    The context is read when a database transaction first writes, so a
    transaction is attributed to the context active at its first flush.
    Raises :class:`UsageError` for an unknown origin or a bad value.
    """
    token = _current.set(
        AuditContext(actor=actor, origin=origin, reason=reason, remote_addr=remote_addr)
    )
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def current_context() -> AuditContext:
    """The attribution that the next transaction will carry."""
    return _current.get()
