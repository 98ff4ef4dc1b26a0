"""The stable Python API for reporting scripts (:mod:`auditd.history.api`).

``from auditd import api`` keeps working whatever the package layout: this
module re-exports the history API's public names and nothing else.
"""

from auditd.history.api import *  # noqa: F403
from auditd.history.api import __all__  # noqa: F401
