"""`cygno-mw frontend camera|pmt|slow-control [MIDAS flags]`: start one of our frontends.

This is the command MIDAS runs from `/Programs/<client name>/Start command`, so it names a
program, never a module path: moving code never breaks a running experiment's ODB.  The
flags after the program are MIDAS's own (midas.frontend.parse_args): -i frontend index
(camera N, bank CAMN), -h host, -e experiment, -D / -O run as a daemon, -d debug log.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# program name -> module whose main() runs it (the program's own folder)
PROGRAMS = {
    "camera": "cygno_mw.frontends.camera.frontend",
    "pmt": "cygno_mw.frontends.pmt.frontend",
    "slow-control": "cygno_mw.frontends.slow_control.frontend",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", choices=sorted(PROGRAMS), help="which frontend")
    parser.add_argument("midas_args", nargs=argparse.REMAINDER, metavar="...",
                        help="MIDAS frontend flags: -i N, -h HOST, -e EXPT, -D")
    parser.epilog = __doc__


def run(args: argparse.Namespace) -> int:
    # midas.frontend.parse_args() reads sys.argv: hand it exactly the MIDAS flags
    sys.argv = [f"cygno-mw frontend {args.program}", *args.midas_args]
    return int(importlib.import_module(PROGRAMS[args.program]).main() or 0)
