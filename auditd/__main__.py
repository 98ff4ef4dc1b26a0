"""``python -m auditd`` is ``audittrail``."""

import sys

from auditd.cli.entry import main

sys.exit(main())
