"""``python -m carepaths``: the same as the ``carepaths`` command."""

import sys

from carepaths.cli import main

if __name__ == "__main__":  # Dask's spawned workers import this module too
    sys.exit(main())
