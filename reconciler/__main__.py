"""``python -m reconciler``: the same entry point as the ``reconciler`` command."""

import sys

from reconciler.entry import main

sys.exit(main())
