"""The two threads around the reconstruction: a reader ahead of it, a writer behind it.

Both talk to the main thread through bounded queues, so a fast reader cannot fill the
memory with decoded images and a slow database cannot hide a growing backlog: whichever
stage is slowest sets the pace, and the others overlap with it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_END = object()
_POLL_S = 0.1


class ReadAhead(Generic[T]):
    """Runs `iterable` in a thread, `depth` items ahead of whoever iterates this object.

    An exception inside the iterable ends the iteration; it is kept in `.error` (the
    items before it have all been delivered) rather than raised, so the caller decides
    what a bad file means.  `close()` stops the thread early.
    """

    def __init__(self, iterable: Iterable[T], depth: int = 4, name: str = "cygno-reader"):
        self._source = iterable
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, never lost
            self.error = exc
        self._put(_END)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class SerialWorker:
    """Runs submitted calls one after the other in its own thread, in submission order.

    The first exception is kept; later calls are dropped and `submit`/`close` raise it,
    so the main thread stops feeding a broken output promptly.
    """

    def __init__(self, depth: int = 16, name: str = "cygno-writer") -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self.busy_s = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self.error is not None:
                continue
            function, args, kwargs = item
            started = time.perf_counter()
            try:
                function(*args, **kwargs)
            except BaseException as exc:
                self.error = exc
            self.busy_s += time.perf_counter() - started

    def submit(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue `function(*args, **kwargs)`; blocks while the queue is full."""
        if self.error is not None:
            raise self.error
        if not self._thread.is_alive():
            raise RuntimeError("the writer thread has stopped")
        self._queue.put((function, args, kwargs))

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self, raise_error: bool = True) -> None:
        """Wait for every queued call; re-raise the first error."""
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        if raise_error and self.error is not None:
            raise self.error
