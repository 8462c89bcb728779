"""Images to worker processes through shared memory instead of pickles.

A 10.6 MB camera frame pickled to a worker is copied four times (pickle, pipe write, pipe
read, unpickle) by the process that also decodes the files; here the parent copies it once
into one of a few shared-memory slots and sends the slot's name, shape and dtype.  The
worker maps the slot (once per slot, kept) and reconstructs straight from it.

    slots = ImageSlots(n_slots)          # parent: as many slots as images in flight
    ref = slots.put(image)               # copy in; ref is small and pickles cheaply
    ...                                  # worker: image = attached_view(ref)
    slots.release(ref)                   # when the worker's result is back
    slots.close()                        # unlinks every slot

A slot is reused only after `release`, so the parent never writes an image a worker is
still reading.  The parent owns (and unlinks) the segments; workers only attach.

Shared memory lives in /dev/shm, which can be small (64 MB under Docker's and Kubernetes'
defaults), and a segment written beyond the room left kills the writer with SIGBUS.  So a
new segment is made only when `shared_memory_room` says it fits; otherwise `put` raises
NoSharedMemory and the caller sends that image another way.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

SHM_DIR = "/dev/shm"
SHM_MARGIN = 16 << 20  # left free for everyone else


class NoSharedMemory(Exception):
    """/dev/shm has no room for another segment of this size."""


def shared_memory_room(nbytes: int) -> bool:
    """Whether /dev/shm can take `nbytes` more and still keep SHM_MARGIN free."""
    try:
        fs = os.statvfs(SHM_DIR)
    except OSError:  # no /dev/shm (not Linux): the system's own limits apply
        return True
    return fs.f_bavail * fs.f_frsize >= nbytes + SHM_MARGIN


@dataclass(frozen=True)
class SlotRef:
    """Where a worker finds one image: segment name, slot index, array shape and dtype."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: str


class ImageSlots:
    """A fixed number of reusable shared-memory image buffers (parent side)."""

    def __init__(self, n_slots: int) -> None:
        self._segments: list[shared_memory.SharedMemory | None] = [None] * n_slots
        self._free = collections.deque(range(n_slots))

    @property
    def free(self) -> int:
        return len(self._free)

    def put(self, image: np.ndarray) -> SlotRef:
        """Copy `image` into a free slot (grown when too small); IndexError when none free,
        NoSharedMemory when a new segment would not fit in /dev/shm."""
        if not self._free:
            raise IndexError("no free image slot: release the slots of finished images")
        image = np.asarray(image)
        index = self._free[0]
        segment = self._segments[index]
        if segment is None or segment.size < image.nbytes:
            grow = image.nbytes - (0 if segment is None else segment.size)
            if not shared_memory_room(grow):
                raise NoSharedMemory(f"{SHM_DIR} has no room for {image.nbytes} bytes more")
            if segment is not None:
                _drop(segment)
                self._segments[index] = None
            segment = shared_memory.SharedMemory(create=True, size=max(image.nbytes, 1))
            self._segments[index] = segment
        self._free.popleft()
        target = np.ndarray(image.shape, dtype=image.dtype, buffer=segment.buf)
        np.copyto(target, image)
        del target
        return SlotRef(segment.name, index, tuple(image.shape), image.dtype.str)

    def release(self, ref: SlotRef) -> None:
        """The worker is done with `ref`: its slot may take the next image."""
        self._free.append(ref.index)

    def close(self) -> None:
        """Unlink every segment (call after the workers have finished)."""
        for index, segment in enumerate(self._segments):
            if segment is not None:
                _drop(segment)
                self._segments[index] = None
        self._free = collections.deque(range(len(self._segments)))


def _drop(segment: shared_memory.SharedMemory) -> None:
    with contextlib.suppress(BufferError):  # a view still alive here; the unlink frees it
        segment.close()
    with contextlib.suppress(FileNotFoundError):
        segment.unlink()


# -- worker side ---------------------------------------------------------------------------

_attached: dict[int, shared_memory.SharedMemory] = {}


def attached_view(ref: SlotRef) -> np.ndarray:
    """The image of `ref` as an array on the shared segment (attached once per slot)."""
    segment = _attached.get(ref.index)
    if segment is None or segment.name != ref.name:
        if segment is not None:  # the parent replaced this slot by a larger one
            with contextlib.suppress(BufferError):
                segment.close()
        segment = attach_segment(ref.name)
        _attached[ref.index] = segment
    return np.ndarray(ref.shape, dtype=np.dtype(ref.dtype), buffer=segment.buf)


def attach_segment(name: str) -> shared_memory.SharedMemory:
    """Attach to a segment the parent owns and unlinks.

    Before Python 3.13 attaching registers the name with the resource tracker too; the
    pool's workers share the parent's tracker (forkserver), where that is a repeat of the
    parent's own registration, removed by the parent's unlink.
    """
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)  # type: ignore[call-arg]
    return shared_memory.SharedMemory(name=name)
