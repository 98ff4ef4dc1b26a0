"""History: the typed API over the audit trail, for people and scripts.

* :mod:`.api` — the public functions (history, who_changed, row_at, changes,
  revert, report), re-exported as :mod:`auditd.api`;
* :mod:`.records` — the frozen records they return;
* :mod:`.tables` — the tables and fields of the database at hand, from the registry;
* :mod:`.diff` — versions paired with their predecessors, members merged in;
* :mod:`.feed`, :mod:`.state_at`, :mod:`.reporting`, :mod:`.revert` — one query family each.
"""
