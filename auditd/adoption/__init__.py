"""Adoption: put an existing database (an Open Event Server's) under audit.

:mod:`.adopt` builds version tables from the live columns, installs capture,
writes a resumable baseline and repairs ``last_modified_at``.
"""
