"""Start the camera frontend: `python -m cygno_mw.frontends.camera_frontend -i N [-D]`.

Flags are MIDAS's own (midas.frontend.parse_args): -i frontend index (camera N, bank CAMN),
-h host, -e experiment, -D / -O daemon, -d debug log.
"""

from __future__ import annotations

import sys

from cygno_mw.frontends.frontend_main import frontend_main


def main() -> int:
    return frontend_main("camera frontend", "cygno_mw.frontends.camera_equipment:CameraFrontend")


if __name__ == "__main__":
    sys.exit(main())
