"""``python -m carepaths``: the same as the ``carepaths`` command."""

import sys

from carepaths.cli import main

sys.exit(main())
