"""The camera frontend program: what `cygno-mw frontend camera -i N [-D]` runs.

Flags are MIDAS's own (midas.frontend.parse_args): -i frontend index, -h host,
-e experiment, -D / -O daemon, -d debug log.
"""

from __future__ import annotations

from cygno_mw.frontends.frontend_main import frontend_main


def main() -> int:
    return frontend_main("camera frontend", "cygno_mw.frontends.camera.equipment:CameraFrontend")
