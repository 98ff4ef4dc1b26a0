"""Stamps: ``last_modified_at`` derived from history, compared and repaired.

* :mod:`.derive` — the SQL that derives a stamp from the version history;
* :mod:`.repair` — bounded, lock-safe batches that repair or count drift;
* :mod:`.horizon` — which rows changed since a watermark, in commit order;
* :mod:`.watermark` — sync's stored watermark and its time bound;
* :mod:`.statistics` — planner statistics of the audit tables, kept fresh.

Pure database logic: nothing here schedules, records runs or prints.
"""
