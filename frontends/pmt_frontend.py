"""Start the PMT digitizer frontend:
`python -m cygno_mw.frontends.pmt_frontend -i N [-D]` (MIDAS's flags)."""

from __future__ import annotations

import sys

from cygno_mw.frontends.frontend_main import frontend_main


def main() -> int:
    return frontend_main("PMT frontend", "cygno_mw.frontends.pmt_equipment:PmtFrontend")


if __name__ == "__main__":
    sys.exit(main())
