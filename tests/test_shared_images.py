"""Images reach worker processes through shared-memory slots, unchanged and without leaks."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

import numpy as np
import pytest

from cygno_mw.analyzers.shared_images import ImageSlots, attached_view


def _checksum(ref) -> tuple[int, tuple[int, ...], str]:
    image = attached_view(ref)
    return int(image.astype(np.uint64).sum()), image.shape, image.dtype.str


def test_workers_read_the_images_the_parent_put():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 65535, (64, 48), dtype=np.uint16) for _ in range(6)]
    images.append(rng.integers(0, 65535, 200 * 300, dtype=np.uint16))  # larger: slot grows
    images.append(images[0][:, ::2])  # not contiguous
    slots = ImageSlots(2)
    context = multiprocessing.get_context("forkserver")
    names = set()
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        for image in images:
            ref = slots.put(image)
            names.add(ref.name)
            total, shape, dtype = pool.submit(_checksum, ref).result()
            assert total == int(image.astype(np.uint64).sum())
            assert shape == image.shape and dtype == image.dtype.str
            slots.release(ref)
    slots.close()
    for name in names:  # every segment is unlinked
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name=name)


def test_a_slot_is_reused_only_after_release():
    slots = ImageSlots(1)
    ref = slots.put(np.zeros((4, 4), np.uint16))
    with pytest.raises(IndexError):
        slots.put(np.zeros((4, 4), np.uint16))
    slots.release(ref)
    again = slots.put(np.ones((4, 4), np.uint16))
    assert again.index == ref.index and again.name == ref.name
    slots.close()
