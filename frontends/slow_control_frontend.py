"""Start the slow-control frontend:
`python -m cygno_mw.frontends.slow_control_frontend -i N [-D]` (MIDAS's flags)."""

from __future__ import annotations

import sys

from cygno_mw.frontends.frontend_main import frontend_main


def main() -> int:
    return frontend_main("slow-control frontend",
                         "cygno_mw.frontends.slow_control_equipment:SlowControlFrontend")


if __name__ == "__main__":
    sys.exit(main())
