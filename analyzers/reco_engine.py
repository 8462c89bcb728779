"""Where images get reconstructed: in this process, or in N worker processes.

`make_engine(params, workers)` picks one:

- `InlineEngine`: one `Reconstructor` per pedestal map in this process.  On a GPU it
  gathers `batch_size` images and sends them through `process_batch` together.
- `ProcessPoolEngine` (CPU, `-j N`, N >= 2): N worker processes.  The parent prepares each
  pedestal file's maps once and publishes them in shared memory (shared_maps: one copy for
  all workers); each worker builds its Reconstructor on them once (pool initializer for the
  maps known at start, lazily for maps that appear later) and keeps it.  Images go out in
  submission order and come back in it, through shared memory too (shared_images: one
  copy, no pickling of 10 MB frames).  When /dev/shm has no room (64 MB under Docker's
  default) they go as copies instead, with one warning.

Both take `ImageJob`s with `submit` and hand back (job, result) pairs, in order, as they
complete; `drain` waits for the rest.  A job names its pedestal map by file; the maps
travel once (a shared segment per file), never with the images.  The acceptance map for
sc_integral is the Reco parameter `vignette_map`, loaded here (the Reconstructor takes
the array).
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.analyzers.shared_images import ImageSlots, NoSharedMemory, SlotRef, attached_view
from cygno_mw.analyzers.shared_maps import MapsRef, SharedMaps, attached_maps
from cygno_mw.gpu.params import VIGNETTE_BUILTIN, VIGNETTE_NONE, RecoParams
from cygno_mw.gpu.pedestals import PedestalMaps
from cygno_mw.gpu.pipeline import HostMaps, ImageResult, Reconstructor, host_maps

log = logging.getLogger(__name__)

@dataclass
class ImageJob:
    """One camera image to reconstruct, and what it belongs to."""

    run: int
    camera: int
    serial: int
    timestamp: int
    image: np.ndarray
    pedestal_path: Path


def vignette_for(spec: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The acceptance map `vignette_map` names: 'builtin' (the model the simulation also
    uses), 'none' (no correction), or the path of a measured ROOT map."""
    from cygno_mw.vignetting import load_vignette_map

    if spec == VIGNETTE_NONE:
        return None
    return load_vignette_map(None if spec == VIGNETTE_BUILTIN else spec, shape)


def _file_key(pedestal_path: Path) -> tuple[str, int, int]:
    """A pedestal file as (path, size, mtime): a file made again is a new key."""
    stat = os.stat(pedestal_path)
    return (str(pedestal_path), stat.st_size, stat.st_mtime_ns)


def _load_maps(params: RecoParams, pedestal_path: Path) -> HostMaps:
    maps = PedestalMaps.load(pedestal_path)
    return host_maps(params, maps, vignette_for(params.vignette_map, maps.shape))


class _ReconstructorCache:
    """Reconstructors keyed by pedestal file (path, size, mtime), built on first use."""

    def __init__(self, params: RecoParams) -> None:
        self.params = params
        self._built: dict[tuple[str, int, int], Reconstructor] = {}

    def get(self, pedestal_path: Path) -> Reconstructor:
        key = _file_key(pedestal_path)
        found = self._built.get(key)
        if found is None:
            found = Reconstructor.from_host_maps(self.params,
                                                 _load_maps(self.params, pedestal_path))
            self._built[key] = found
        return found


class InlineEngine:
    """Reconstruction in this process (batched on a GPU)."""

    def __init__(self, params: RecoParams, preload: list[Path] | None = None) -> None:
        from cygno_mw.gpu.backend import get_backend

        self.params = params
        self._backend = get_backend(params.backend)
        self._cache = _ReconstructorCache(params)
        for path in preload or []:  # now, before a reader fills memory with images
            self._cache.get(path)
        self._pending: list[ImageJob] = []
        self.workers = 1

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def device_name(self) -> str:
        return self._backend.device_name

    @property
    def batch_size(self) -> int:
        return self.params.batch_size if self._backend.is_gpu else 1

    def submit(self, job: ImageJob) -> list[tuple[ImageJob, ImageResult]]:
        if self._pending and self._pending[0].pedestal_path != job.pedestal_path:
            done = self.drain()
        else:
            done = []
        self._pending.append(job)
        if len(self._pending) >= self.batch_size:
            done.extend(self.drain())
        return done

    def drain(self) -> list[tuple[ImageJob, ImageResult]]:
        jobs, self._pending = self._pending, []
        if not jobs:
            return []
        reconstructor = self._cache.get(jobs[0].pedestal_path)
        results = reconstructor.process_batch([job.image for job in jobs])
        return list(zip(jobs, results, strict=True))

    def discard(self) -> None:
        """Forget images not yet reconstructed (after an error in their run)."""
        self._pending = []

    def close(self) -> None:
        self._pending = []


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- worker processes -----------------------------------------------------------------------

_worker_params: RecoParams | None = None
_worker_built: dict[str, Reconstructor] = {}
_worker_files: _ReconstructorCache | None = None


def _worker_reconstructor(maps: MapsRef | str) -> Reconstructor:
    """On the shared maps, or (a pedestal file's path: /dev/shm was full) on its own."""
    assert _worker_params is not None and _worker_files is not None, "worker not initialised"
    if isinstance(maps, str):
        return _worker_files.get(Path(maps))
    found = _worker_built.get(maps.name)
    if found is None:
        found = Reconstructor.from_host_maps(_worker_params, attached_maps(maps))
        _worker_built[maps.name] = found
    return found


def _init_worker(params: dict[str, Any], preload: list[MapsRef | str]) -> None:
    """Pool initializer: build this worker's Reconstructors once."""
    global _worker_params, _worker_files
    _worker_params = RecoParams.from_mapping(params)
    _worker_files = _ReconstructorCache(_worker_params)
    for maps in preload:
        _worker_reconstructor(maps)


def _reconstruct(maps: MapsRef | str, image: SlotRef | np.ndarray) -> ImageResult:
    frame = attached_view(image) if isinstance(image, SlotRef) else image
    return _worker_reconstructor(maps).process(frame)


class ProcessPoolEngine:
    """Reconstruction in `workers` processes, at most `2 * workers` images in flight."""

    def __init__(self, params: RecoParams, workers: int,
                 preload: list[Path] | None = None) -> None:
        from cygno_mw.gpu.backend import numpy_backend

        self.params = params.replace(backend="numpy")
        self.workers = int(workers)
        self._backend = numpy_backend()
        context = multiprocessing.get_context("forkserver")
        # the compiled CPU kernels loaded once, in the fork server: workers share them
        context.set_forkserver_preload(["cygno_mw.analyzers.reco_engine",
                                        "cygno_mw.gpu.cpu_preload"])
        self._maps = SharedMaps()
        self._unshared: set[tuple[str, int, int]] = set()  # maps /dev/shm had no room for
        self._warned = False
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker,
            initargs=(self.params.to_mapping(), [self._maps_for(p) for p in preload or []]))
        self._in_flight: collections.deque[tuple[ImageJob, SlotRef | None, Future[ImageResult]]] = (
            collections.deque())
        self.max_in_flight = 2 * self.workers
        self._slots = ImageSlots(self.max_in_flight + 1)

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def device_name(self) -> str:
        return f"{self._backend.device_name} x {self.workers} processes"

    @property
    def batch_size(self) -> int:
        return 1  # images go to the workers one by one

    def _maps_for(self, pedestal_path: Path) -> MapsRef | str:
        """The shared maps of a pedestal file, prepared and published on first use; its
        path when /dev/shm has no room for them (each worker then loads its own)."""
        key = _file_key(pedestal_path)
        found = self._maps.get(key)
        if found is None and key not in self._unshared:
            try:
                found = self._maps.publish(key, _load_maps(self.params, pedestal_path))
            except NoSharedMemory as exc:
                self._no_room(exc)
                self._unshared.add(key)
        return str(pedestal_path) if found is None else found

    def _no_room(self, exc: NoSharedMemory) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s: images or maps go to the workers as copies (slower; each worker "
                        "holds its own maps). Give /dev/shm more room, e.g. docker run "
                        "--shm-size=1g", exc)

    def submit(self, job: ImageJob) -> list[tuple[ImageJob, ImageResult]]:
        maps = self._maps_for(job.pedestal_path)
        slot: SlotRef | None = None
        try:
            slot = self._slots.put(job.image)
        except NoSharedMemory as exc:
            self._no_room(exc)
        try:
            future = self._pool.submit(_reconstruct, maps, job.image if slot is None else slot)
        except BaseException:
            self._release(slot)
            raise
        self._in_flight.append((job, slot, future))
        done = []
        while self._in_flight and (len(self._in_flight) > self.max_in_flight
                                   or self._in_flight[0][2].done()):
            done.append(self._collect())
        return done

    def drain(self) -> list[tuple[ImageJob, ImageResult]]:
        done = []
        while self._in_flight:
            done.append(self._collect())
        return done

    def _collect(self) -> tuple[ImageJob, ImageResult]:
        """The oldest job and its result; its slot is free again either way."""
        job, slot, future = self._in_flight.popleft()
        try:
            return job, future.result()
        finally:
            self._release(slot)

    def _release(self, slot: SlotRef | None) -> None:
        if slot is not None:
            self._slots.release(slot)

    def discard(self) -> None:
        """Forget images in flight (after an error in their run); waits for the workers."""
        while self._in_flight:
            _, slot, future = self._in_flight.popleft()
            if not future.cancel():
                future.exception()
            self._release(slot)

    def close(self) -> None:
        self.discard()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._slots.close()
        self._maps.close()


def make_engine(params: RecoParams, workers: int = 1, preload: list[Path] | None = None,
                say: Callable[[str], None] | None = None) -> InlineEngine | ProcessPoolEngine:
    """Worker processes for `workers` >= 2 on the CPU; otherwise (or on a GPU) inline.
    On the CPU, a fresh machine compiles the kernels first, saying so through `say`
    (default: stderr), so that no run's images/s counts the compilation."""
    from cygno_mw.gpu.backend import get_backend

    backend = get_backend(params.backend)
    if not backend.is_gpu:
        from cygno_mw.gpu.cpu_compile import compile_once

        compile_once(say or _to_stderr)
    if workers >= 2 and backend.is_gpu:
        log.warning("-j %d ignored: reconstructing on %s in batches of %d", workers,
                    backend.device_name, params.batch_size)
    if workers >= 2 and not backend.is_gpu:
        return ProcessPoolEngine(params, workers, preload)
    return InlineEngine(params, preload)
