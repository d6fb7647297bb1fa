"""`python -m lingtan`: the same as the `lingtan` command."""

import sys

from lingtan.cli.main import main

sys.exit(main())
