"""The `main()` of every frontend entry module: check MIDAS, parse -i/-h/-e, run, clean up."""

from __future__ import annotations

import argparse
import importlib
import sys

from cygno_mw.errors import CygnoError
from cygno_mw.midas_client import defer_disconnect_on_stop
from cygno_mw.midas_required import require_midas


def frontend_main(label: str, target: str) -> int:
    """Run the frontend class `target` ("module:Class", built with the -i index) until MIDAS
    stops it; exit status 0 then, 1 on a startup error, 2 without MIDAS's package.
    `--help` needs no MIDAS: a machine without the DAQ can still read it."""
    if "--help" in sys.argv[1:]:
        help_parser(label).print_help()
        return 0
    try:
        require_midas()
    except CygnoError as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return 2
    import midas.frontend

    midas.frontend.parse_args()
    module_name, class_name = target.split(":")
    try:
        frontend_class = getattr(importlib.import_module(module_name), class_name)
        frontend = frontend_class(midas.frontend.frontend_index)
    except CygnoError as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return 1
    # told to stop, communicate() raises SystemExit but keeps the connection, so close()
    # can still post its messages and write the final statistics before we disconnect
    defer_disconnect_on_stop(frontend.client)
    try:
        frontend.run()
    except SystemExit as stop:
        return int(stop.code or 0)
    finally:
        try:
            frontend.close()
        finally:
            frontend.client.disconnect()
    return 0


def help_parser(label: str) -> argparse.ArgumentParser:
    """The flags midas.frontend.parse_args() takes, described without importing MIDAS."""
    parser = argparse.ArgumentParser(prog=sys.argv[0], add_help=False,
                                     description=f"The {label} (a MIDAS frontend).")
    parser.add_argument("-i", type=int, metavar="N",
                        help="frontend index: several side by side (camera N, bank CAMN)")
    parser.add_argument("-h", metavar="HOST", help="MIDAS host (mserver)")
    parser.add_argument("-e", metavar="EXPT", help="MIDAS experiment")
    parser.add_argument("-d", action="store_true", help="debug log")
    parser.add_argument("-D", action="store_true", help="become a daemon")
    parser.add_argument("-O", action="store_true", help="become a daemon but keep stdout")
    parser.add_argument("--help", action="help", help="show this help and exit")
    return parser
