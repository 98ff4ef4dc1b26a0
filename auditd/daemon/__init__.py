"""The daemon: ``audittrail serve`` and the jobs it runs.

* :mod:`.service` — lifecycle, the watchdog, status and reload;
* :mod:`.signals` — stop and reload requests, recorded from the first moment;
* :mod:`.startup` — what is checked before ``READY=1``;
* :mod:`.progress` — each job's progress, for the watchdog, status and health;
* :mod:`.changes` — sync woken by commits (LISTEN/NOTIFY, or a poll on SQLite);
* :mod:`.metrics` — Prometheus metrics and ``/healthz``;
* :mod:`.scheduler` — the only APScheduler import;
* :mod:`.jobs` — sync, reconcile and verify as thin functions over :mod:`auditd.stamps`;
* :mod:`.ledger_jobs` — seal and prune as thin functions over :mod:`auditd.ledger`;
* :mod:`.runner`, :mod:`.runs` — one run: lock, claim, batches, record;
* :mod:`.locks` — job locks and the SQLite single-``serve`` lock;
* :mod:`.notify` — the systemd notify protocol.
"""
