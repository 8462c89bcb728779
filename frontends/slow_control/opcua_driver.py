"""The `opcua` slow-control driver: the gas system's PLC over OPC-UA, with asyncua.

asyncua is asynchronous and the MIDAS frontend loop is not, so the driver runs its own event
loop in a background thread and waits for each request with the configured timeout.  All
channels are read in one Read request; a node that answers with a bad status (wrong node id,
channel off) reads NaN and is listed in `channel_problems`, while a failed request (PLC or
network gone, timeout) raises, so the equipment reports the loss and reopens the connection
every Retry period until the PLC answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Coroutine, Mapping
from typing import Any

from cygno_mw.frontends.settings_validation import as_list
from cygno_mw.frontends.slow_control.drivers import SlowControlDriver, SlowControlDriverError

_RECONNECT_KEYS = {"OPC-UA endpoint", "OPC-UA timeout", "OPC-UA node ids", "Names"}


def load_asyncua() -> Any:
    try:
        import asyncua
    except ImportError as exc:
        raise SlowControlDriverError(
            f"the opcua driver needs asyncua: pip install 'cygno-mw[opcua]' ({exc})") from exc
    return asyncua


class LoopThread:
    """An asyncio event loop running in a daemon thread; `call()` waits for a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="opcua-loop")
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout),
                                                  self.loop)
        try:
            return future.result(timeout + 1.0)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


class OpcUaDriver(SlowControlDriver):
    name = "opcua"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self._loop: LoopThread | None = None
        self._client: Any = None
        self._nodes: list[Any] = []

    @property
    def timeout(self) -> float:
        return float(self.settings["OPC-UA timeout"])

    def open(self) -> None:
        asyncua = load_asyncua()
        endpoint = str(self.settings["OPC-UA endpoint"])
        self._loop = LoopThread()
        self._client = asyncua.Client(url=endpoint, timeout=self.timeout)
        try:
            self._loop.call(self._client.connect(), self.timeout)
        except Exception as exc:
            self.close()
            raise SlowControlDriverError(f"cannot connect to {endpoint}: "
                                         f"{exc or type(exc).__name__}") from exc
        node_ids = [str(n) for n in as_list(self.settings["OPC-UA node ids"])]
        self._nodes = [self._client.get_node(node_id) for node_id in node_ids[:len(self.names)]]

    def configure(self, settings: Mapping[str, Any], changed: set[str]) -> None:
        super().configure(settings, changed)
        if changed & _RECONNECT_KEYS and self._client is not None:
            self.close()
            self.open()

    def read(self) -> list[float]:
        if self._client is None or self._loop is None:
            raise SlowControlDriverError("not connected")
        from asyncua import ua

        try:
            results = self._loop.call(
                self._client.read_attributes(self._nodes, ua.AttributeIds.Value), self.timeout)
        except Exception as exc:
            raise SlowControlDriverError(f"read failed: {exc or type(exc).__name__}") from exc
        values: list[float] = []
        problems: dict[str, str] = {}
        for name, result in zip(self.names, results, strict=True):
            value = result.Value.Value if result.Value is not None else None
            if not result.StatusCode.is_good():
                problems[name] = result.StatusCode.name
                values.append(math.nan)
            elif isinstance(value, (int, float)):
                values.append(float(value))
            else:
                problems[name] = f"not a number ({type(value).__name__})"
                values.append(math.nan)
        self.channel_problems = problems
        return values

    def close(self) -> None:
        client, loop = self._client, self._loop
        self._client, self._loop, self._nodes = None, None, []
        if client is not None and loop is not None:
            with contextlib.suppress(Exception):  # a server that is gone cannot say goodbye
                loop.call(client.disconnect(), min(self.timeout, 2.0))
        if loop is not None:
            loop.stop()
