"""The replay's event source: a MIDAS file read and decoded in a thread ahead of the analysis.

Decompression and bank decoding happen in the reader thread (`ReadAhead`), a few events
ahead of the reconstruction.  A file that ends inside an event, or whose data are corrupt,
yields every complete event first; the problem is then available as `problem` (a
sentence naming the file and byte offset) and the run counts as partial.  A file without
its end-of-run dump (the writer died or is still writing) is partial too.
"""

from __future__ import annotations

from collections.abc import Iterator

from cygno_mw.analyzers.background import ReadAhead
from cygno_mw.analyzers.events import DecodedEvent, from_midas_event
from cygno_mw.midasfile.errors import MidasFormatError
from cygno_mw.midasfile.reader import MidasFile

READ_AHEAD_EVENTS = 4


class FileSource:
    """Iterate for DecodedEvents of `run`; afterwards `problem` says why it was partial."""

    def __init__(self, midas: MidasFile, run: int, depth: int = READ_AHEAD_EVENTS) -> None:
        self.midas = midas
        self.run = int(run)
        self.depth = depth
        self.problem: str | None = None
        self.error_offset: int | None = None

    def _decoded(self) -> Iterator[DecodedEvent]:
        for event in self.midas.events():
            yield from_midas_event(self.run, event)

    def __iter__(self) -> Iterator[DecodedEvent]:
        reader = ReadAhead(self._decoded(), self.depth, name="cygno-file-reader")
        try:
            yield from reader
        finally:
            reader.close()
        error = reader.error
        if isinstance(error, MidasFormatError):
            self.problem = str(error)
            self.error_offset = error.offset
        elif error is not None:
            if isinstance(error, OSError):
                self.problem = f"{self.midas.path}: read error: {error}"
                return
            raise error
        elif not self.midas.complete:
            self.problem = (f"{self.midas.path}: no end-of-run dump: the file was not closed "
                            "(the run is still being written, or its writer stopped)")
