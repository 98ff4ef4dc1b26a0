"""Reading many blocks at once: one snapshot, several connections.

On PostgreSQL the server digests a block's rows
(:mod:`auditd.ledger.row_digests`), and that work, one core per connection,
is what sealing or verifying a long history waits for; the chain that joins
the blocks is cheap and stays in order in the caller. :func:`read_ranges`
reads the blocks of successive transaction ranges on up to ``readers``
connections of their own, each importing the caller's snapshot
(``pg_export_snapshot``), so every block is read as of the same moment as
if the caller had read it, and hands back the contents in order.

On SQLite, Python digests every row, on one core per interpreter: there
the blocks are read by up to ``readers`` worker processes
(:mod:`auditd.ledger.process_reads`) when there are at least
:data:`~auditd.ledger.process_reads.WORTH_A_POOL` of them and the database
is a file. With one reader, or fewer blocks, they are read on the caller's
connection.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from itertools import chain, islice

import sqlalchemy as sa

from auditd.ledger import process_reads
from auditd.ledger.block_reads import BlockContent, read_block
from auditd.registry import VersionedTable

__all__ = ["READERS", "read_ranges", "reader_count"]

# The server (or a worker process, on SQLite) digests on one core per
# connection; beyond four, a shared host would feel it more than the job gains.
READERS = max(1, min(4, os.cpu_count() or 1))


def reader_count(setting: int) -> int:
    """The readers ``ledger.readers`` asks for (0: :data:`READERS`)."""
    return setting or READERS


def read_ranges(
    connection: sa.Connection,
    entries: Sequence[VersionedTable],
    ranges: Iterable[tuple[int, int]],
    *,
    readers: int = READERS,
) -> Generator[BlockContent, None, None]:
    """The content of each ``(after, through]`` range, in the order given, as
    ``connection``'s snapshot sees it (a REPEATABLE READ transaction on
    PostgreSQL). Up to ``2 * readers`` blocks are read ahead of the one
    returned; the iterator must be used up or closed while ``connection``'s
    transaction is open."""
    if readers <= 1:
        yield from _read_here(connection, entries, ranges)
        return
    readers_at_work: AbstractContextManager[_Start]
    if connection.dialect.name == "sqlite":
        url = process_reads.shareable_url(connection.engine)
        ranges = iter(ranges)
        first = list(islice(ranges, process_reads.WORTH_A_POOL))
        ranges = chain(first, ranges)
        if url is None or len(first) < process_reads.WORTH_A_POOL:
            yield from _read_here(connection, entries, ranges)
            return
        readers_at_work = process_reads.worker_reads(connection, url, entries, readers=readers)
    else:
        readers_at_work = _snapshot_reads(connection, entries, readers=readers)
    with readers_at_work as start:
        pending: deque[Callable[[], BlockContent]] = deque()
        for after, through in ranges:
            pending.append(start(after, through))
            if len(pending) > 2 * readers:
                yield pending.popleft()()
        while pending:
            yield pending.popleft()()


# Starts reading the block of an (after, through] range; what it returns
# gives the block's content.
_Start = Callable[[int, int], Callable[[], BlockContent]]


@contextmanager
def _snapshot_reads(
    connection: sa.Connection, entries: Sequence[VersionedTable], *, readers: int
) -> Iterator[_Start]:
    """Blocks read on up to ``readers`` connections of their own, each
    importing ``connection``'s snapshot (PostgreSQL)."""
    snapshot = str(connection.scalar(sa.text("SELECT pg_export_snapshot()")))
    engine = connection.engine.execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    )

    def read(after: int, through: int) -> BlockContent:
        with engine.connect() as reader, reader.begin():
            reader.execute(sa.text("SET TRANSACTION SNAPSHOT :id"), {"id": snapshot})
            return read_block(reader, entries, after, through)

    pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="ledger-read")
    try:
        yield lambda after, through: pool.submit(read, after, through).result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _read_here(
    connection: sa.Connection,
    entries: Sequence[VersionedTable],
    ranges: Iterable[tuple[int, int]],
) -> Generator[BlockContent, None, None]:
    for after, through in ranges:
        yield read_block(connection, entries, after, through)
