"""`python -m monitor.cli`: the same as `converge-monitor`."""

import sys

from monitor.cli import main

sys.exit(main())
