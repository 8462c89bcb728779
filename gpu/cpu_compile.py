"""The compiled CPU reconstruction, compiled once per machine and said so.

The CPU path's kernels (cpu_kernels, cpu_clustering, cpu_peaks) are compiled by Numba on
first use and kept in its on-disk cache.  On a fresh machine that first use takes seconds
of compilation; left to happen inside the first image of a run, it looks like a hang and
counts in the run's images/s.  `compile_once(say)` finds out whether the cache holds them,
and when it does not, says once what is happening and compiles them now, before any run
starts, by reconstructing one synthetic LIME frame and analysing a block of synthetic PMT
waveforms (the same argument types real data gives).  An interrupt (Ctrl-C) during the
compilation is a plain KeyboardInterrupt, not a wall of Numba and ctypes tracebacks.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

COMPILE_ESTIMATE_S = 15  # measured: 13-15 s on a 2-core x86-64 shared with other work
_ready = False  # this process found or made the cache complete: never look again


def kernel_modules() -> tuple[ModuleType, ...]:
    from . import cpu_clustering, cpu_kernels, cpu_peaks

    return (cpu_kernels, cpu_clustering, cpu_peaks)


def kernels() -> dict[str, Any]:
    """Every compiled kernel of the CPU path by qualified name."""
    from numba.core.registry import CPUDispatcher

    return {f"{module.__name__}.{name}": fn for module in kernel_modules()
            for name, fn in vars(module).items() if isinstance(fn, CPUDispatcher)}


def uncached() -> list[str]:
    """The kernels with nothing valid in Numba's on-disk cache (all of them on a fresh
    machine or after the source changed; none once compiled).  A kernel without a cache
    (no writable cache folder) counts as uncached: each new process compiles it."""
    missing = []
    for name, fn in kernels().items():
        try:
            index = fn._cache._cache_file._load_index()  # Numba's own staleness check
        except AttributeError:  # NullCache (cache=False) or another Numba's layout
            index = {} if type(fn._cache).__name__ == "NullCache" else {"?": "?"}
        except Exception:
            index = {}
        if not index:
            missing.append(name)
    return missing


def is_compiled() -> bool:
    """True when every kernel is in Numba's cache (tests/test_cpu_compile.py holds
    warm_up() to compiling every kernel, so a new kernel cannot be left out)."""
    return not uncached()


def warm_up() -> None:
    """One synthetic LIME frame through the CPU path and one block of PMT waveforms through
    their analysis: every kernel real data uses gets compiled (or loaded from the cache)."""
    from .params import RecoParams
    from .pedestals import PedestalMaps
    from .pipeline import Reconstructor
    from .pmt_waveforms import analyse_waveforms
    from .synthetic import SHAPE, synthetic_frame

    maps = PedestalMaps(mean=np.full(SHAPE, 100.0, np.float32),
                        sigma=np.full(SHAPE, 2.0, np.float32), n_images=1)
    Reconstructor(RecoParams(backend="numpy"), maps).process(synthetic_frame())
    samples = np.arange(1024, dtype=np.float64)
    pulse = 3000.0 - 400.0 * np.exp(-0.5 * ((samples - 500.0) / 6.0) ** 2)
    analyse_waveforms(np.broadcast_to(pulse, (2, 8, 1024)).copy())


def compile_once(say: Callable[[str], None]) -> float | None:
    """Compile the CPU kernels now when Numba's cache lacks them, after saying so once;
    returns the seconds it took, or None when they were there already."""
    global _ready
    if _ready or is_compiled():
        _ready = True
        return None
    if any(type(fn._cache).__name__ == "NullCache" for fn in kernels().values()):
        say(f"compiling the CPU reconstruction, about {COMPILE_ESTIMATE_S} s (no writable "
            "cache folder, so every new process compiles it: set NUMBA_CACHE_DIR)")
    else:
        say(f"compiling the CPU reconstruction, once, about {COMPILE_ESTIMATE_S} s "
            "(kept in Numba's cache: later runs start at once)")
    started = time.perf_counter()
    with interrupt_as_one_error():
        warm_up()
    took = time.perf_counter() - started
    _ready = True
    say(f"compiled in {took:.0f} s")
    return took


@contextlib.contextmanager
def interrupt_as_one_error() -> Iterator[None]:
    """A Ctrl-C while Numba compiles lands inside an LLVM ctypes callback: Python prints it
    as an ignored exception and Numba then fails with an unrelated RuntimeError.  Here the
    interrupt is remembered, those reports are silenced, and a KeyboardInterrupt comes out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = False
    previous_handler = signal.getsignal(signal.SIGINT)
    previous_hook = sys.unraisablehook

    def on_interrupt(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    def quiet_after_interrupt(unraisable: Any) -> None:
        if not (interrupted or isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous_hook(unraisable)

    if previous_handler is not signal.default_int_handler:  # ignored, or a program's own
        yield
        return
    signal.signal(signal.SIGINT, on_interrupt)
    sys.unraisablehook = quiet_after_interrupt
    try:
        yield
        if interrupted:  # swallowed somewhere inside Numba, which then carried on
            raise KeyboardInterrupt
    except BaseException as exc:
        if interrupted and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook
