"""`python -m lingtan`: the same as the `lingtan` command."""

import sys

from lingtan.cli.main import main

if __name__ == "__main__":  # not when a worker process imports this module (multiprocessing spawn)
    sys.exit(main())
