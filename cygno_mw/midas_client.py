"""Stopping a MIDAS program cleanly when the status page (or `cm_shutdown`) tells it to.

MIDAS's `MidasClient.communicate()` disconnects from the experiment and exits the process
(SystemExit 0) when the client is told to stop.  Our programs still have to write their final
statistics to the ODB and close their event requests after that point, so the client's class
is changed to one whose communicate() still ends the program with SystemExit but leaves the
disconnect to the program's own `disconnect()` at the very end.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

_classes: dict[type, type] = {}


def defer_disconnect_on_stop(client: Any) -> Any:
    """Make `client` keep its connection when communicate() is told to stop; returns it."""
    base = type(client)
    if getattr(base, "_cygno_defers_disconnect", False):
        return client
    if base not in _classes:
        _classes[base] = type(f"Deferring{base.__name__}", (base,), {
            "_cygno_defers_disconnect": True,
            "communicate": _communicate,
            "disconnect": _disconnect,
        })
    client.__class__ = _classes[base]
    client.stop_requested = False
    return client


def _communicate(self: Any, time_ms: int) -> None:
    self._cygno_in_communicate = True
    try:
        super(type(self), self).communicate(time_ms)
    except SystemExit:
        self.stop_requested = True
        raise
    finally:
        self._cygno_in_communicate = False


def _disconnect(self: Any) -> None:
    """Disconnect, except from inside communicate() (MIDAS's stop: the program does it)."""
    if getattr(self, "_cygno_in_communicate", False):
        self.stop_requested = True
        return
    super(type(self), self).disconnect()


def client_program_parser(prog: str, client_name: str,
                          description: str | None = None) -> argparse.ArgumentParser:
    """The flags every analyzer-type MIDAS program of ours takes (MIDAS's -h/-e/-D/-O and
    --name); a program adds its own before parsing."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False, description=description)
    parser.add_argument("--help", action="help")
    parser.add_argument("-h", dest="host", default=None, help="MIDAS host (mserver)")
    parser.add_argument("-e", dest="expt", default=None, help="MIDAS experiment")
    parser.add_argument("--name", default=client_name, help="client name (one per process)")
    parser.add_argument("-D", dest="daemon", action="store_true",
                        help="become a daemon (as MIDAS frontends do with -D)")
    parser.add_argument("-O", dest="daemon_keep_stdout", action="store_true",
                        help="become a daemon but keep stdout")
    return parser


def communicate_until_stopped(client: Any, poll: Callable[[], int],
                              close: Callable[[], None], yield_ms: int = 10) -> None:
    """Alternate `poll()` and `client.communicate()` until the status page stops the program
    (communicate() raises SystemExit), then `close()`, also after an error.  A poll that did
    some work (non-zero) is followed by a communicate() that does not wait."""
    try:
        while True:
            client.communicate(yield_ms if poll() == 0 else 0)
    finally:
        close()


def run_client_program(args: argparse.Namespace, run: Callable[[Any], None]) -> int:
    """Connect as `args.name` (daemonized by MIDAS itself with -D/-O), `run(client)` until
    the status page stops it, then disconnect; exit status 0."""
    from cygno_mw.midas_required import require_midas

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    require_midas()
    import midas.client

    # MIDAS's own daemon flag (0: -D, 1: -O): the library forks and detaches before connecting
    daemon_flag = 0 if args.daemon else 1 if args.daemon_keep_stdout else None
    client = defer_disconnect_on_stop(
        midas.client.MidasClient(args.name, args.host, args.expt, daemon_flag))
    try:
        # when told to stop, communicate() raises SystemExit with the connection kept, so the
        # program's own close still writes its final statistics; then we disconnect
        run(client)
    except SystemExit:
        pass
    finally:
        client.disconnect()
    return 0
