"""The replay's event source: a MIDAS file read and decoded in a thread ahead of the analysis.

Decompression and bank decoding happen in the reader thread (`ReadAhead`), a few events
ahead of the reconstruction.  A file that ends inside an event yields every complete event
first; a corrupt stretch costs only the events inside it (the reader resynchronises at the
next good header).  Either way the problem is then available as `problem` (sentences
naming the file and byte offsets) and the run counts as partial.  A file without
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
        problems = [str(skipped) for skipped in self.midas.skipped]
        if self.midas.skipped:
            self.error_offset = self.midas.skipped[0].start
        if isinstance(error, MidasFormatError):
            problems.append(str(error))
            if self.error_offset is None:
                self.error_offset = error.offset
        elif error is not None:
            if not isinstance(error, OSError):
                raise error
            problems.append(f"{self.midas.path}: read error: {error}")
        elif not self.midas.complete:
            problems.append(f"{self.midas.path}: no end-of-run dump: the file was not closed "
                            "(the run is still being written, or its writer stopped)")
        self.problem = "; ".join(problems) or None
