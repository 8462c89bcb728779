"""Size and MD5 checksum of a run file, as the experiment's Run table records them.

The checksum is computed in a background thread while the file is being replayed
(hashlib releases the GIL on large blocks), so it costs no wall time of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from cygno_mw.analyzers.file_digest import file_hexdigest


@dataclass(frozen=True)
class FileFacts:
    name: str
    size: int
    md5: str


class FileFactsTask:
    """Starts hashing `path` now; `result()` waits for it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._facts: FileFacts | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cygno-md5", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            size = self.path.stat().st_size
            self._facts = FileFacts(self.path.name, size, file_hexdigest(self.path, "md5"))
        except OSError as exc:
            self._error = exc

    def result(self) -> FileFacts | None:
        """The facts, or None when the file could not be read (the replay reports that)."""
        self._thread.join()
        return self._facts
