"""``python -m gdlab``: the command line."""

import sys

from gdlab.cli import main

sys.exit(main())
