"""`python -m cygno_mw ...` is the `cygno-mw` command."""

import sys

from cygno_mw.cli import main

sys.exit(main())
