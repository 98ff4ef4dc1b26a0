"""Reading many blocks at once on SQLite: worker processes.

SQLite has no server to digest rows: every row of a block is digested in
Python (:mod:`auditd.ledger.sqlite_block_reads`), and one interpreter digests
on one core. :func:`worker_reads` hands blocks to up to ``readers`` worker
processes, each with a connection of its own to the database file
(:mod:`auditd.ledger.parallel_reads` gives the contents back in order).
The workers are forked from a server process that has already imported
the ledger (started once per process), ignore SIGINT and SIGTERM (the
caller stops them, between blocks, as it stops itself), and end with the
call, or with the caller if it is killed.

A worker reads its block in a read transaction of its own, begun after the
caller's snapshot was taken. What lies in a range the caller asks for does
not change after commit but in one way: a prune removes sealed rows and
appends its prune block in the same transaction
(:mod:`auditd.ledger.prune`). So a worker also says whether it saw a prune
block that the caller's snapshot does not have; such a block is read again
on the caller's connection, as the caller's snapshot sees it, as are the
blocks left when a worker dies (killed for memory, say) or none can start.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from functools import lru_cache, partial
from pathlib import Path

import sqlalchemy as sa

from auditd import db
from auditd.config.sections import DatabaseSettings
from auditd.ledger.block_reads import BlockContent, read_block
from auditd.models.ledger import LEDGER_BLOCK
from auditd.registry import VersionedTable

__all__ = ["WORTH_A_POOL", "shareable_url", "worker_reads"]

# Starting the workers costs about what reading a few small blocks does.
WORTH_A_POOL = 4

_engine: sa.Engine | None = None  # a worker's own, from _open


def shareable_url(engine: sa.Engine) -> str | None:
    """``engine``'s database as a worker opens it (a file's absolute path), or
    None for a database only this process can see, or where workers cannot
    be started as here (no fork server: not Linux or BSD)."""
    url = engine.url
    database = url.database or ""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if not url.query.get("uri") and not database.startswith("file:"):
        url = url.set(database=str(Path(database).resolve()))
    return url.render_as_string(hide_password=False)


@contextmanager
def worker_reads(
    connection: sa.Connection, url: str, entries: Sequence[VersionedTable], *, readers: int
) -> Iterator[Callable[[int, int], Callable[[], BlockContent]]]:
    """What starts reading the block of an ``(after, through]`` range on one
    of up to ``readers`` worker processes connected to ``url``
    (:func:`shareable_url`), and returns what gives its content as
    ``connection``'s snapshot sees it. Leaving the context stops the
    workers; blocks not yet started are not read."""
    head = int(connection.scalar(sa.select(sa.func.max(LEDGER_BLOCK.c.number))) or 0)
    entries = tuple(entries)

    def here(after: int, through: int) -> Callable[[], BlockContent]:
        return partial(read_block, connection, entries, after, through)

    pool = _pool(url, readers)
    if pool is None:
        yield here
        return

    def start(after: int, through: int) -> Callable[[], BlockContent]:
        try:
            future = pool.submit(_read, entries, after, through, head)
        except (BrokenProcessPool, OSError):
            return here(after, through)  # no worker can start here (a sandbox), or one died

        def content() -> BlockContent:
            with suppress(BrokenProcessPool):  # a worker was killed: read here
                block, pruned_since = future.result()
                if not pruned_since:
                    return block
            return read_block(connection, entries, after, through)

        return content

    try:
        yield start
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool(url: str, readers: int) -> ProcessPoolExecutor | None:
    """The workers' pool, or None where its queues cannot exist (no POSIX
    semaphores: a /dev without shm)."""
    try:
        return ProcessPoolExecutor(readers, _context(), initializer=_open, initargs=(url,))
    except OSError:
        return None


@lru_cache(maxsize=1)
def _context() -> multiprocessing.context.ForkServerContext:
    # Workers forked from a server that imported the ledger start in
    # milliseconds, and inherit neither the caller's threads nor its
    # connections (a plain fork would, under a scheduler's threads).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _open(url: str) -> None:
    """A worker's start: its own engine; the caller handles interrupts, and
    the worker ends when the caller does, however it ends."""
    global _engine  # one engine per worker process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _engine = db.create_engine(DatabaseSettings(url=url), poolclass=sa.NullPool)
    threading.Thread(target=_end_with_caller, name="caller-watch", daemon=True).start()


def _end_with_caller() -> None:
    # A killed caller never sends the pool's stop request, and the workers
    # would wait for work forever: its end closes this sentinel.
    caller = multiprocessing.parent_process()
    if caller is not None:
        multiprocessing.connection.wait([caller.sentinel])
    os._exit(1)


def _read(
    entries: tuple[VersionedTable, ...], after: int, through: int, head: int
) -> tuple[BlockContent, bool]:
    """A block's content, and whether this worker's snapshot holds a prune
    block after ``head`` (the caller's latest block)."""
    assert _engine is not None, "the worker was not opened"
    with _engine.connect() as connection, connection.begin():
        content = read_block(connection, entries, after, through)
        newer_prune = sa.select(LEDGER_BLOCK.c.number).where(
            LEDGER_BLOCK.c.number > head, LEDGER_BLOCK.c.kind == "prune"
        )
        return content, connection.scalar(newer_prune.limit(1)) is not None
