"""The uploader's event source: one MIDAS buffer read with GET_ALL, as raw bytes.

GET_ALL makes the DAQ wait for the uploader rather than lose an event to it; nothing is
decoded, so the events reach the chunks byte for byte.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any


class RawBufferSource:
    """Every event of one buffer (GET_ALL), as raw bytes: nothing is decoded or copied twice."""

    def __init__(self, client: Any, buffer_name: str) -> None:
        import midas

        self.client = client
        self.handle = client.open_event_buffer(buffer_name)
        self.request_id = client.register_event_request(self.handle, event_id=-1,
                                                        trigger_mask=-1,
                                                        sampling_type=midas.GET_ALL)
        self._buffer = client.event_buffers[self.handle]

    def receive(self) -> memoryview | None:
        """The next event (header + data), or None when none waits."""
        import midas

        size = ctypes.c_int(ctypes.sizeof(self._buffer))
        try:
            self.client.lib.c_bm_receive_event(self.handle, ctypes.byref(self._buffer),
                                               ctypes.byref(size), ctypes.c_int(1))
        except midas.MidasError as exc:
            if exc.code == midas.status_codes["BM_ASYNC_RETURN"]:
                return None
            raise
        return memoryview(self._buffer)[:size.value]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.deregister_event_request(self.handle, self.request_id)
