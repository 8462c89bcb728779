"""Byte sources over MIDAS files, plain or compressed, and sinks to write them.

A source hands out the *decompressed* stream: `read(n)` returns exactly n bytes unless
the data end, `offset` counts decompressed bytes, and `end_problem` says why the data
ended early (a compressed frame cut short), so the reader can tell a clean end from a
truncated file.  The LZ4 source decompresses each event in one call into a fresh bytes
object: that object is the event buffer the NumPy bank views point into, so reading
costs one decompression and no further copy.  `unread` puts bytes back in front of the
stream, for the reader's resynchronisation after a corrupt event.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import lz4.frame

LZ4_MAGIC = b"\x04\x22\x4d\x18"
GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
COMPRESSIONS = ("lz4", "gzip", "bz2")
_SUFFIXES = {".lz4": "lz4", ".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2"}
_MAX_PIECE = 256 << 20  # largest single allocation for one read


class CompressedDataError(Exception):
    """Bytes the decompressor rejects; the reader turns it into a MidasCorruptError."""


def compression_from_suffix(path: str | os.PathLike[str]) -> str | None:
    """'lz4', 'gzip', 'bz2' or None from the file name, as mlogger names its files."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def detect_compression(path: str | os.PathLike[str]) -> str | None:
    """The compression of a file from its first bytes (its magic number), else None."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(LZ4_MAGIC):
        return "lz4"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZ2_MAGIC):
        return "bz2"
    return None


class Source:
    """The decompressed bytes of a file, read forward; rewinding restarts the stream."""

    compression: str | None = None

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0
        self.end_problem: str | None = None
        self._pushed = memoryview(b"")

    def read(self, size: int) -> bytes:
        if not self._pushed:
            return self._read(size)
        take = bytes(self._pushed[:size])
        self._pushed = self._pushed[len(take):]
        self.offset += len(take)
        if len(take) < size:
            return take + self._read(size - len(take))
        return take

    def unread(self, data: bytes | memoryview) -> None:
        """Put `data` back in front of the stream: the reader re-reads them after it
        has looked past a corrupt event for the next good header."""
        if data:
            self._pushed = memoryview(bytes(data) + bytes(self._pushed))
            self.offset -= len(data)

    def _read(self, size: int) -> bytes:
        raise NotImplementedError

    def skip(self, size: int) -> int:
        """Move forward `size` bytes without keeping them; returns how many there were."""
        done = 0
        if self._pushed:
            done = min(size, len(self._pushed))
            self._pushed = self._pushed[done:]
            self.offset += done
        return done + self._skip(size - done)

    def _skip(self, size: int) -> int:
        done = 0
        while done < size:
            piece = len(self._read(min(size - done, 8 << 20)))
            if not piece:
                break
            done += piece
        return done

    def rewind(self) -> None:
        self._pushed = memoryview(b"")
        self._rewind()

    def _rewind(self) -> None:
        raise NotImplementedError

    @property
    def bytes_consumed(self) -> int | None:
        """Bytes of the file itself read so far (compressed bytes for a compressed file);
        None where the decompressor does not say.  For progress estimates."""
        return self.offset

    def seek(self, offset: int) -> int:
        """Go to decompressed `offset` (forward by skipping, backward by rewinding)."""
        if offset < self.offset:
            self.rewind()
        if offset > self.offset:
            self.skip(offset - self.offset)
        return self.offset

    def close(self) -> None:
        raise NotImplementedError


class PlainSource(Source):
    """An uncompressed `.mid` file: reads are single system calls, skips are seeks."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._size = 0

    def _available(self, size: int) -> int:
        """`size`, or less where the file ends (its size re-read: it may be growing)."""
        if self.offset + size > self._size:
            self._size = os.fstat(self._file.fileno()).st_size
        return max(0, min(size, self._size - self.offset))

    def _read(self, size: int) -> bytes:
        data = self._file.read(self._available(size))
        self.offset += len(data)
        return data

    def _skip(self, size: int) -> int:
        size = self._available(size)
        self.offset = self._file.seek(self.offset + size)
        return size

    def _rewind(self) -> None:
        self.offset = self._file.seek(0)

    def close(self) -> None:
        self._file.close()


class StreamSource(Source):
    """A gzip or bzip2 file through the standard library's decompressing readers."""

    def __init__(self, path: str | os.PathLike[str], compression: str) -> None:
        super().__init__(path)
        self.compression = compression
        self._file = self._open()

    def _open(self) -> BinaryIO:
        opener = gzip.open if self.compression == "gzip" else bz2.open
        return opener(self.path, "rb")  # type: ignore[return-value]

    def _read(self, size: int) -> bytes:
        pieces = []
        got = 0
        while got < size:
            try:
                piece = self._file.read(min(size - got, _MAX_PIECE))
            except EOFError:
                self.end_problem = f"the {self.compression} stream is cut short"
                break
            except (OSError, zlib.error) as exc:
                raise CompressedDataError(f"corrupt {self.compression} data: {exc}") from None
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        self.offset += got
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _rewind(self) -> None:
        self._file.close()
        self._file = self._open()
        self.offset = 0
        self.end_problem = None

    @property
    def bytes_consumed(self) -> int | None:
        raw = getattr(self._file, "fileobj", None) or getattr(self._file, "_fp", None)
        try:
            return int(raw.tell()) if raw is not None else None
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        self._file.close()


class Lz4Source(Source):
    """An LZ4-frame file (mlogger's `.mid.lz4`), decompressed with python-lz4's chunk API.

    Compressed input is read in large chunks and handed to the decompressor as
    memoryview slices; each `read(n)` asks for exactly n bytes, so an event usually
    comes out as one bytes object.  Only an event that straddles two input chunks is
    joined (copied) from pieces.
    """

    compression = "lz4"
    CHUNK = 32 << 20

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._start_stream()

    def _start_stream(self) -> None:
        self._context = lz4.frame.create_decompression_context()
        self._view = memoryview(b"")
        self._pos = 0
        self._chunk_start = 0
        self._in_frame = False
        self._file_done = False

    @property
    def compressed_offset(self) -> int:
        return self._chunk_start + self._pos

    @property
    def bytes_consumed(self) -> int | None:
        return self.compressed_offset

    def _next_chunk(self, want: int) -> bool:
        if self._file_done:
            return False
        self._chunk_start += len(self._view)
        data = self._file.read(max(self.CHUNK, min(want, _MAX_PIECE)))
        if not data:
            self._file_done = True
            self._view = memoryview(b"")
            self._pos = 0
            return False
        self._view = memoryview(data)
        self._pos = 0
        return True

    def _read(self, size: int) -> bytes:
        pieces = []
        got = 0
        while got < size:
            if self._pos >= len(self._view):
                # the decompressor may still hold output of a block it has fully read
                out = self._decompress(size - got) if self._in_frame else b""
                if out:
                    pieces.append(out)
                    got += len(out)
                    continue
                if not self._next_chunk(size - got):
                    if self._in_frame:
                        self.end_problem = "the LZ4 frame is cut short"
                    break
            out = self._decompress(size - got)
            if out:
                pieces.append(out)
                got += len(out)
        self.offset += got
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _decompress(self, wanted: int) -> bytes:
        """Up to `wanted` bytes from the remaining input (and what the context buffers)."""
        try:
            out, used, frame_done = lz4.frame.decompress_chunk(
                self._context, self._view[self._pos :], max_length=min(wanted, _MAX_PIECE)
            )
        except RuntimeError as exc:
            raise CompressedDataError(
                f"corrupt LZ4 data near compressed byte {self.compressed_offset}: {exc}"
            ) from None
        self._pos += used
        self._in_frame = not frame_done
        return out

    def _rewind(self) -> None:
        self._file.seek(0)
        self._start_stream()
        self.offset = 0
        self.end_problem = None

    def close(self) -> None:
        self._file.close()


def open_source(path: str | os.PathLike[str], compression: str | None) -> Source:
    if compression == "lz4":
        return Lz4Source(path)
    if compression in ("gzip", "bz2"):
        return StreamSource(path, compression)
    return PlainSource(path)


# -- writing ------------------------------------------------------------------------------


class Lz4Sink(io.RawIOBase):
    """A file written as one LZ4 frame the way mlogger writes it: 4 MB linked blocks,
    content checksum.  `close` writes the end mark."""

    def __init__(self, handle: BinaryIO) -> None:
        super().__init__()
        self._handle = handle
        self._compressor = lz4.frame.LZ4FrameCompressor(
            block_size=lz4.frame.BLOCKSIZE_MAX4MB, content_checksum=True, auto_flush=False
        )
        self._handle.write(self._compressor.begin())

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data)
        self._handle.write(self._compressor.compress(view))
        return view.nbytes

    def flush(self) -> None:
        if not self._handle.closed:
            self._handle.flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._handle.write(self._compressor.flush())
            self._handle.close()
        finally:
            super().close()


def open_sink(path: str | os.PathLike[str], compression: str | None) -> BinaryIO:
    """A binary file object that compresses what is written to `path`."""
    if compression == "lz4":
        return Lz4Sink(open(path, "wb"))  # type: ignore[return-value]
    if compression == "gzip":
        return gzip.open(path, "wb", compresslevel=1)  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.open(path, "wb")  # type: ignore[return-value]
    if compression is None:
        return open(path, "wb")
    raise ValueError(f"unknown compression {compression!r} (one of {', '.join(COMPRESSIONS)})")
