"""``python -m monitor`` is the same program as ``continuity-monitor``."""

import sys

from monitor.cli import main

sys.exit(main())
