"""The `main()` of every frontend entry module: check MIDAS, parse -i/-h/-e, run, clean up."""

from __future__ import annotations

import importlib
import sys

from cygno_mw.errors import CygnoError
from cygno_mw.midas_required import require_midas


def frontend_main(label: str, target: str) -> int:
    """Run the frontend class `target` ("module:Class", built with the -i index) until MIDAS
    stops it; exit status 0 then, 1 on a startup error, 2 without MIDAS's package."""
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
    try:
        frontend.run()
    except SystemExit as stop:  # MIDAS's communicate() exits when told to stop
        return int(stop.code or 0)
    finally:
        frontend.close()
        frontend.client.disconnect()
    return 0
