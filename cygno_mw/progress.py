"""One progress display for the long commands (replay, simulate): a count with its total and
an ETA.

On a terminal it is a tqdm bar on stderr, rewritten in place.  Elsewhere (a log file, a
pipe) it is a plain line every tenth of the way, so logs stay readable.  When the total is
not known in advance (a run file's events), `FileProgress` estimates it from how much of
the file has been read, and corrects it as it goes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


class Progress:
    """`update(n)` as work is done; `close()` at the end; `total` may change on the way."""

    def __init__(self, desc: str, total: int | None, unit: str, *,
                 stream: Any = None) -> None:
        self.desc, self.unit = desc, unit
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._bar: Any = None
        self._next_line = 0
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(desc=desc, total=total, unit=unit, file=self.stream, leave=False,
                             dynamic_ncols=True)

    def set_total(self, total: int) -> None:
        self.total = max(int(total), self.done)
        if self._bar is not None and self._bar.total != self.total:
            self._bar.total = self.total
            self._bar.refresh()

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.total and self.done >= self._next_line:
            print(self.line(), file=self.stream, flush=True)
            self._next_line = self.done + max(1, self.total // 10)

    def line(self) -> str:
        """`desc: done/total unit, elapsed, ETA` (the non-terminal form)."""
        elapsed = time.perf_counter() - self.started
        text = f"{self.desc}: {self.done}/{self.total or '?'} {self.unit}, {elapsed:.1f} s"
        if self.total and 0 < self.done < self.total:
            text += f", ETA {elapsed * (self.total - self.done) / self.done:.0f} s"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class FileProgress(Progress):
    """Images of a run file: the total is estimated from the fraction of the file read."""

    def __init__(self, desc: str, file_size: int, bytes_read: Callable[[], int | None],
                 unit: str = "img", **kwargs: Any) -> None:
        super().__init__(desc, None, unit, **kwargs)
        self.file_size = max(int(file_size), 1)
        self.bytes_read = bytes_read

    def update(self, n: int = 1) -> None:
        consumed = self.bytes_read()
        if consumed:
            fraction = min(consumed / self.file_size, 1.0)
            # the reader runs a few events ahead of the images done: leave it a margin
            if fraction > 0.0:
                self.set_total(max(round((self.done + n) / fraction), self.done + n))
        super().update(n)
