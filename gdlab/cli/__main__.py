import sys

from gdlab.cli import main

sys.exit(main())
