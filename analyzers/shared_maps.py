"""A Reconstructor's maps to worker processes through shared memory: one copy for N workers.

Each worker used to load the pedestal file and derive the threshold and acceptance maps
itself: 3 x 21 MB of float32 per LIME camera in every worker.  The parent now prepares them
once (`gpu.pipeline.host_maps`) and publishes them in one shared-memory segment; a worker
attaches (once per segment) and builds its Reconstructor on views of it.

    published = SharedMaps()                 # parent
    ref = published.publish(key, maps)       # HostMaps -> MapsRef (small, pickles cheaply)
    ...                                      # worker: maps = attached_maps(ref)
    published.close()                        # unlinks every segment, after the workers

The parent owns (and unlinks) the segments; workers only read them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from cygno_mw.analyzers.shared_images import (
    SHM_DIR,
    NoSharedMemory,
    attach_segment,
    shared_memory_room,
)
from cygno_mw.gpu.pipeline import HostMaps

_FIELDS = ("pedestal", "threshold", "vignette")
_ALIGN = 64  # each array starts on a cache line


@dataclass(frozen=True)
class MapsRef:
    """Where a worker finds one set of maps: segment name, shape, and which arrays it holds
    (the acceptance map may be absent)."""

    name: str
    shape: tuple[int, int]
    fields: tuple[str, ...]


def _offsets(shape: tuple[int, int], fields: tuple[str, ...]) -> list[int]:
    size = shape[0] * shape[1] * 4
    step = -(-size // _ALIGN) * _ALIGN
    return [k * step for k in range(len(fields) + 1)]


class SharedMaps:
    """Published map sets by key (parent side)."""

    def __init__(self) -> None:
        self._refs: dict[Hashable, MapsRef] = {}
        self._segments: list[shared_memory.SharedMemory] = []

    def get(self, key: Hashable) -> MapsRef | None:
        return self._refs.get(key)

    def publish(self, key: Hashable, maps: HostMaps) -> MapsRef:
        """Copy `maps` into a new segment; the same key again returns the first one.
        NoSharedMemory when /dev/shm has no room for it."""
        if key in self._refs:
            return self._refs[key]
        fields = tuple(f for f in _FIELDS if getattr(maps, f) is not None)
        offsets = _offsets(maps.shape, fields)
        if not shared_memory_room(offsets[-1]):
            raise NoSharedMemory(f"{SHM_DIR} has no room for {offsets[-1]} bytes of maps")
        segment = shared_memory.SharedMemory(create=True, size=offsets[-1])
        self._segments.append(segment)
        for field, offset in zip(fields, offsets, strict=False):
            view = np.ndarray(maps.shape, dtype=np.float32, buffer=segment.buf, offset=offset)
            np.copyto(view, getattr(maps, field))
            del view
        ref = MapsRef(segment.name, tuple(maps.shape), fields)  # type: ignore[arg-type]
        self._refs[key] = ref
        return ref

    def close(self) -> None:
        """Unlink every segment (call after the workers have finished)."""
        for segment in self._segments:
            with contextlib.suppress(BufferError):
                segment.close()
            with contextlib.suppress(FileNotFoundError):
                segment.unlink()
        self._segments.clear()
        self._refs.clear()


# -- worker side ---------------------------------------------------------------------------

_attached: dict[str, shared_memory.SharedMemory] = {}


def attached_maps(ref: MapsRef) -> HostMaps:
    """The maps of `ref` as arrays on the shared segment (attached once per segment).  They
    are the parent's: the worker reads them and never writes."""
    segment = _attached.get(ref.name)
    if segment is None:
        segment = attach_segment(ref.name)
        _attached[ref.name] = segment
    arrays: dict[str, np.ndarray | None] = dict.fromkeys(_FIELDS)
    for field, offset in zip(ref.fields, _offsets(ref.shape, ref.fields), strict=False):
        arrays[field] = np.ndarray(ref.shape, dtype=np.float32, buffer=segment.buf,
                                   offset=offset)
    return HostMaps(**arrays)  # type: ignore[arg-type]
