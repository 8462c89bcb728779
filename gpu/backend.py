"""Choice of array library: NumPy on the CPU, CuPy on a CUDA GPU, same code for both.

CuPy is imported only when asked for (or probed by 'auto'), so the CPU path never loads a
GPU library.  Each backend carries the array module (`xp`), the matching `ndimage`, and the
few scatter/segment helpers whose spelling differs between the two.

Where CuPy's semantics differ from NumPy's, the place of use says why the result is still
the CPU's; the kinds met in the GPU path are:
- `nonzero` / boolean-mask indexing: CuPy returns indices in row-major order (a scan), as
  NumPy does, so point lists come out in the same order on both.
- atomics: scatter min/max are exact and order-free; bincount with weights adds float64 in
  an unspecified order, exact for integer-valued data (counts, grid moments), otherwise
  equal to the CPU's within float64 rounding.
- float reductions (sum, cumsum): a tree or scan order instead of NumPy's pairwise one;
  exact where the partial sums are (integers, float32 values summed in float64), else
  within rounding.
- sorting: CuPy's argsort is always stable, NumPy's default is not; argmax takes the first
  of equal maxima on both.  `unique` is not used.
- ndimage.label may number components differently; callers renumber them canonically.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from cygno_mw.errors import ConfigError

# The first CuPy whose bincount takes an empty input (13.x-14.1 raise on it: an image with
# points but no cluster) and whose scatter_max/min take int64 values (13.x-14.0 raise on
# them: cluster extents).  setup.cfg's gpu extras ask for it too.
MIN_CUPY = (14, 2)


def cupy_version_ok(version: str) -> bool:
    """True when a CuPy version string is at least MIN_CUPY."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return bool(found) and (int(found[1]), int(found[2])) >= MIN_CUPY


@dataclass(frozen=True)
class Backend:
    """An array library plus the device it runs on."""

    name: str  # 'numpy' | 'cupy'
    xp: ModuleType
    ndimage: ModuleType
    device_name: str
    # CPU: run the clustering's hot spots as compiled loops (cpu_clustering), same results;
    # False gives the plain NumPy array code (gpu/reference_cpu.py, the tests' reference)
    compiled: bool = False

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Array on this backend's device (no copy when it is already there)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a: Any) -> np.ndarray:
        """NumPy copy of a device array (identity on the CPU backend)."""
        if self.is_gpu:
            return self.xp.asnumpy(a)
        return np.asarray(a)

    def scalar(self, a: Any) -> float:
        """A 0-d device value as a Python float (one device sync on the GPU)."""
        return float(a.item() if hasattr(a, "item") else a)

    def _atomic_friendly(self, values: Any) -> Any:
        """GPU scatter min/max need 32/64-bit values: widen bool and small integers."""
        if values.dtype.kind in "biu" and values.dtype.itemsize < 4:
            return values.astype(self.xp.int32)
        return values

    def segment_max(self, values: Any, segments: Any, n: int, fill: float) -> Any:
        """Per-segment maximum of `values` (segments in 0..n-1); `fill` where empty.

        GPU: atomicMax in any order; a maximum does not depend on it, so equal to the CPU.
        """
        values = self._atomic_friendly(values)
        out = self.xp.full(n, fill, dtype=values.dtype)
        if self.is_gpu:
            import cupyx

            cupyx.scatter_max(out, segments, values)
        elif self.compiled:
            from . import cpu_clustering

            cpu_clustering.segment_max(out, segments, values)
        else:
            np.maximum.at(out, segments, values)
        return out

    def segment_min(self, values: Any, segments: Any, n: int, fill: float) -> Any:
        """Per-segment minimum of `values`; `fill` where empty (GPU: atomics, as max)."""
        values = self._atomic_friendly(values)
        out = self.xp.full(n, fill, dtype=values.dtype)
        if self.is_gpu:
            import cupyx

            cupyx.scatter_min(out, segments, values)
        elif self.compiled:
            from . import cpu_clustering

            cpu_clustering.segment_min(out, segments, values)
        else:
            np.minimum.at(out, segments, values)
        return out

    def segment_sum(self, values: Any, segments: Any, n: int) -> Any:
        """Per-segment float64 sum (bincount; a compiled loop on the CPU).

        GPU: CuPy's bincount adds the weights with float64 atomics in no fixed order.  Sums of
        integer or half-integer values (counts, grid coordinates and their products, all
        below 2**53) are exact in any order, so equal to the CPU's; sums of light values
        differ from the CPU's by float64 rounding (~1e-16 relative), far inside the float32
        rounding the parity tests allow the cluster variables.
        """
        if self.compiled:
            from . import cpu_clustering

            return cpu_clustering.segment_sum(values, segments, n)
        return self.xp.bincount(segments, weights=values, minlength=n)[:n]

    def synchronize(self) -> None:
        """Wait for queued GPU work (for honest timings); no-op on the CPU."""
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()


@functools.cache
def numpy_backend() -> Backend:
    import platform

    from scipy import ndimage

    cpu = platform.processor() or platform.machine() or "cpu"
    return Backend("numpy", np, ndimage, f"CPU ({cpu})", compiled=True)


@functools.cache
def cupy_backend() -> Backend | None:
    """The CuPy backend, or None when CuPy (>= MIN_CUPY) or a usable GPU is missing."""
    try:
        import cupy
        import cupyx.scipy.ndimage as cnd

        if not cupy_version_ok(cupy.__version__):
            return None
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        device = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(device.id)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        cupy.zeros(1).sum()  # fails early on a broken driver / toolkit
    except Exception:  # ImportError, CUDARuntimeError, compiler errors...
        return None
    return Backend("cupy", cupy, cnd, f"GPU {device.id} ({name})")


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one working CUDA device."""
    return cupy_backend() is not None


def get_backend(name: str = "auto") -> Backend:
    """'auto' takes the GPU when present; 'cupy' without one is a ConfigError."""
    name = str(name).strip().lower()
    if name == "numpy":
        return numpy_backend()
    if name == "cupy":
        backend = cupy_backend()
        if backend is None:
            raise ConfigError(
                "backend 'cupy' requested but CuPy >= "
                f"{'.'.join(map(str, MIN_CUPY))} or a CUDA GPU is not available "
                "(install cygno-mw[gpu] on a GPU machine, or use backend='numpy'/'auto')"
            )
        return backend
    if name == "auto":
        return cupy_backend() or numpy_backend()
    raise ConfigError(f"unknown backend {name!r}: use 'auto', 'numpy' or 'cupy'")
