"""The `main()` of every frontend entry module: check MIDAS, parse -i/-h/-e, run, clean up."""

from __future__ import annotations

import importlib
import sys

from cygno_mw.errors import CygnoError
from cygno_mw.midas_client import defer_disconnect_on_stop
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
