"""`python -m hangmatrix.cli`: the command line, as the `hangmatrix` script runs it."""

import sys

from . import main

sys.exit(main())
