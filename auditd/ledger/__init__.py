"""The sealed ledger: tamper-evident history.

* :mod:`.canonical` — what a block seals: transaction rows, version rows
  and validity links, each in a canonical serialisation with its digest;
* :mod:`.block_reads` — a block's elements, digested by PostgreSQL
  (:mod:`.row_digests`) wherever it writes the same text as Python, and on
  SQLite read as stored and digested here (:mod:`.sqlite_block_reads`);
* :mod:`.blocks` — blocks, their manifests and hashes, the chain, digests;
* :mod:`.seal` — appending blocks behind the commit-order horizon;
* :mod:`.parallel_reads` — reading many blocks at once, on connections sharing a snapshot,
  or on SQLite in worker processes (:mod:`.process_reads`);
* :mod:`.linkage` — the validity linkage of version rows, checked in SQL;
* :mod:`.verify` — ``verify --integrity``: chain, content, linkage, external digests;
* :mod:`.digests` — the latest digest, and files of digests kept outside the database;
* :mod:`.prune` — retention that the ledger records, so history stays verifiable.
"""

from auditd.ledger.blocks import Block, Digest
from auditd.ledger.digests import append_digest, latest_digest, read_digest_file
from auditd.ledger.linkage import LinkageProblem
from auditd.ledger.parallel_reads import reader_count
from auditd.ledger.seal import SealOutcome, seal
from auditd.ledger.verify import IntegrityProblem, IntegrityReport, verify_integrity

__all__ = [
    "Block",
    "Digest",
    "IntegrityProblem",
    "IntegrityReport",
    "LinkageProblem",
    "SealOutcome",
    "append_digest",
    "latest_digest",
    "read_digest_file",
    "reader_count",
    "seal",
    "verify_integrity",
]
