"""A MIDAS client in a process of its own, driven over stdin/stdout by the tests.

The pytest process keeps the MIDAS stand-in on its path for the fast unit tests, so the real
`midas` package runs here: one JSON request a line (`{"m": method, "a": args, "k": kwargs}`),
one JSON answer a line (`{"r": result}` or `{"e": [exception type, text]}`).  Any method of
`midas.client.MidasClient` can be called; `collect_packed` and `receive_packed` return
events as base64 of their packed bytes.  Between requests it calls communicate() so MIDAS
sees it alive.

    python midas_crew.py CLIENT_NAME
"""

from __future__ import annotations

import base64
import json
import select
import sys
import time
from typing import Any

import midas
import midas.client
import midas.event

MARK = "@crew@"  # answers start with it; anything else MIDAS prints is not an answer


class Crew:
    def __init__(self, name: str) -> None:
        self.client = midas.client.MidasClient(name)

    def collect_packed(self, buffer: str, event_id: int, seconds: float,
                       start_stop: bool = True) -> list[str]:
        """Start a run, take every event `event_id` in `buffer` for `seconds`, stop it."""
        client = self.client
        handle = client.open_event_buffer(buffer)
        request = client.register_event_request(handle, event_id=event_id,
                                                sampling_type=midas.GET_ALL)
        if start_stop:
            client.start_run()
        events: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            event = client.receive_event(handle, async_flag=True)
            if event is None:
                client.communicate(10)
                continue
            events.append(base64.b64encode(bytes(event.pack())).decode())
        if start_stop:
            client.stop_run()
            quiet_until = time.monotonic() + 0.5  # what was sent before the stop, too
            while time.monotonic() < quiet_until:
                event = client.receive_event(handle, async_flag=True)
                if event is None:
                    client.communicate(10)
                    continue
                events.append(base64.b64encode(bytes(event.pack())).decode())
        client.deregister_event_request(handle, request)
        return events

    def send_banked_run(self, buffer: str, event_id: int, count: int,
                        align64: bool) -> int:
        """A run of `count` events `event_id` sent by this client with MIDAS's own
        `midas.event.Event` (BANK32, or BANK32A with `align64`), banks of a few odd sizes;
        the run's number."""
        client = self.client
        handle = client.open_event_buffer(buffer)
        client.start_run()
        run = int(client.odb_get("/Runinfo/Run number"))
        for serial in range(count):
            event = midas.event.Event(bank32=True, align64=align64)
            event.header.event_id = event_id
            event.header.serial_number = serial
            event.header.timestamp = int(time.time())
            event.create_bank("WRD0", midas.TID_WORD, list(range(serial % 5 + 1)))
            event.create_bank("FLT0", midas.TID_FLOAT, [0.5 * serial] * (serial % 3 + 1))
            event.create_bank("DWD0", midas.TID_DWORD, list(range(serial % 7 + 3)))
            client.send_event(handle, event)
            client.communicate(20)
        client.stop_run()
        return run

    def odb_get_or(self, path: str, default: Any = None) -> Any:
        """odb_get, or `default` where the key does not exist (odb_get raises KeyError)."""
        return self.client.odb_get(path) if self.client.odb_exists(path) else default

    def start_run_when_connected(self, name: str, timeout: float = 60.0) -> int:
        """Start a run the moment client `name` shows in /System/Clients; its number."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            clients = self.client.odb_get("/System/Clients")
            if any(entry.get("Name") == name for entry in clients.values()):
                self.client.start_run()
                return int(self.client.odb_get("/Runinfo/Run number"))
            time.sleep(0.005)
        raise TimeoutError(f"{name} did not connect")

    def start_run_as_client_connects(self, name: str, hold_s: float = 2.0) -> int:
        """Start a run whose start transition is under way while client `name` connects:
        a callback of ours (sequence 250) holds the transition until `name` shows in
        /System/Clients, then `hold_s` longer; the run's number."""
        def hold(client: Any, run: int) -> int:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                    entry.get("Name") == name
                    for entry in client.odb_get("/System/Clients").values()):
                time.sleep(0.01)
            time.sleep(hold_s)
            return 1

        self.client.register_transition_callback(midas.TR_START, 250, hold)
        try:
            self.client.start_run()
        finally:
            self.client.deregister_transition_callback(midas.TR_START)
        return int(self.client.odb_get("/Runinfo/Run number"))

    def wait(self, seconds: float) -> None:
        """communicate() for `seconds` (a run going on meanwhile)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.client.communicate(100)

    def call(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        target = getattr(self, method, None) or getattr(self.client, method)
        return target(*args, **kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def main() -> None:
    crew = Crew(sys.argv[1])
    print(MARK + json.dumps({"r": "ready"}), flush=True)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if not ready:
            crew.client.communicate(10)
            continue
        line = sys.stdin.readline()
        if not line:
            break
        request = json.loads(line)
        if request["m"] == "quit":
            break
        try:
            answer = {"r": _jsonable(crew.call(request["m"], request.get("a", []),
                                               request.get("k", {})))}
        except SystemExit:
            raise
        except BaseException as exc:
            answer = {"e": [type(exc).__name__, str(exc)]}
        print(MARK + json.dumps(answer), flush=True)
    crew.client.disconnect()


if __name__ == "__main__":
    main()
