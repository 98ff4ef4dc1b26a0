"""The ``audittrail`` command line: parsing and rendering over the Python API."""
