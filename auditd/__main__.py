"""``python -m auditd`` is ``audittrail``."""

import sys

from auditd.cli.main import main

sys.exit(main())
