"""The daemon: ``audittrail serve`` and the jobs it runs.

* :mod:`.service` — lifecycle, signals, watchdog, reload;
* :mod:`.scheduler` — the only APScheduler import;
* :mod:`.jobs` — sync, reconcile and verify as thin functions over :mod:`auditd.stamps`;
* :mod:`.runner`, :mod:`.runs` — one run: lock, claim, batches, record;
* :mod:`.locks` — job locks and the SQLite single-``serve`` lock;
* :mod:`.notify` — the systemd notify protocol.
"""
