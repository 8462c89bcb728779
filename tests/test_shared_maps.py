"""A Reconstructor's maps reach worker processes through one shared segment, unchanged."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

import numpy as np
import pytest

from cygno_mw.analyzers.reco_engine import ImageJob, make_engine
from cygno_mw.analyzers.shared_maps import SharedMaps, attached_maps
from cygno_mw.gpu.params import RecoParams
from cygno_mw.gpu.pedestals import PedestalMaps
from cygno_mw.gpu.pipeline import Reconstructor, host_maps


def _maps(seed: int, shape=(64, 48)) -> PedestalMaps:
    rng = np.random.default_rng(seed)
    return PedestalMaps(rng.normal(100, 1, shape), rng.uniform(1, 3, shape), 10)


def _worker_copy(ref):
    maps = attached_maps(ref)
    return {f: None if getattr(maps, f) is None else np.array(getattr(maps, f))
            for f in ("pedestal", "threshold", "vignette")}


def test_workers_see_the_maps_the_parent_published():
    params = RecoParams(backend="numpy", ymin=0, ymax=64, xmax=48)
    with_vignette = host_maps(params, _maps(0), np.full((64, 48), 0.5, np.float32))
    without = host_maps(params, _maps(1))
    published = SharedMaps()
    refs = [published.publish("a", with_vignette), published.publish("b", without)]
    assert published.publish("a", without) is refs[0]  # a key is published once
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        for ref, maps in zip(refs, (with_vignette, without), strict=True):
            seen = pool.submit(_worker_copy, ref).result()
            for field, array in seen.items():
                expected = getattr(maps, field)
                if expected is None:
                    assert array is None
                else:
                    np.testing.assert_array_equal(array, expected)
    published.close()
    for ref in refs:  # every segment is unlinked
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name=ref.name)


def _no_room(monkeypatch) -> None:
    from cygno_mw.analyzers import shared_images, shared_maps

    monkeypatch.setattr(shared_images, "shared_memory_room", lambda nbytes: False)
    monkeypatch.setattr(shared_maps, "shared_memory_room", lambda nbytes: False)


@pytest.mark.parametrize("shm", ["room", "full"])
def test_worker_results_equal_this_process(tmp_path, shm, monkeypatch, caplog):
    """-j 2 gives what a Reconstructor here gives, image for image: on shared maps and
    images, and by copies when /dev/shm has no room (Docker's 64 MB), with one warning."""
    from cygno_mw.gpu.synthetic import synthetic_frame

    if shm == "full":
        _no_room(monkeypatch)
    pedestal = tmp_path / "ped.npz"
    maps = PedestalMaps(np.full((2304, 2304), 100.0), np.full((2304, 2304), 2.0), 1)
    maps.save(pedestal)
    params = RecoParams(backend="numpy", vignette_map="none")
    here = Reconstructor(params, PedestalMaps.load(pedestal))
    frames = [synthetic_frame(seed=s) for s in range(3)]
    engine = make_engine(params, 2, preload=[pedestal])
    try:
        done = [pair for k, frame in enumerate(frames)
                for pair in engine.submit(ImageJob(1, 0, k, 0, frame, pedestal))]
        done += engine.drain()
    finally:
        engine.close()
    assert [job.serial for job, _ in done] == [0, 1, 2]
    warnings = [r for r in caplog.records if "/dev/shm" in r.getMessage()]
    assert len(warnings) == (1 if shm == "full" else 0)
    for (_job, result), frame in zip(done, frames, strict=True):
        expected = here.process(frame)
        assert result.image == expected.image
        assert result.clusters.keys() == expected.clusters.keys()
        for name, values in expected.clusters.items():
            np.testing.assert_array_equal(result.clusters[name], values)


def test_a_full_dev_shm_refuses_new_segments_and_keeps_the_slot(monkeypatch):
    from cygno_mw.analyzers.shared_images import ImageSlots, NoSharedMemory

    _no_room(monkeypatch)
    slots = ImageSlots(1)
    with pytest.raises(NoSharedMemory, match="/dev/shm"):
        slots.put(np.zeros((8, 8), np.uint16))
    assert slots.free == 1
    with pytest.raises(NoSharedMemory, match="/dev/shm"):
        SharedMaps().publish("a", host_maps(RecoParams(backend="numpy", ymin=0, ymax=64,
                                                       xmax=48), _maps(0)))
    slots.close()
