"""A CPU stand-in for the parts of CuPy the GPU path calls, keeping CuPy's rules.

With it installed as `cupy` / `cupyx` (see `installed`), `Reconstructor(backend='cupy')`
runs the GPU path's own code on the CPU: GpuFrameSteps with its pinned staging, streams and
batches, the project's CUDA sources compiled for the host (cuda_host) behind
ElementwiseKernel, ReductionKernel and RawKernel, and the GPU branches of the backend.
Arrays are NumPy arrays; what CuPy refuses is refused here too, where the GPU path could
trip on it:

- RawKernel / ReductionKernel / ElementwiseKernel `options` must be a tuple;
- kernel arguments must have the C types of the kernel signature (cuda_host checks);
- `ndarray.set` takes a NumPy array of the same dtype and shape into a contiguous array;
- `argsort` takes kind None or 'stable' only, and sorts stably as CuPy does (NumPy's default
  does not), so results that depend on the order of ties show up as differences;
- `bincount` takes 1-D non-float integers >= 0, `cupyx.scatter_max/min` the dtypes of
  CuPy 14.2 only;
- a kernel must not read an array whose host-to-device copy (`asarray`, `ndarray.set`) is
  still pending on another stream that a non-blocking stream does not wait for.

Work runs at once, in order; only that copy ordering is modelled, not CuPy's float
reduction orders.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cuda_host
import numpy as np
import scipy.ndimage

from cygno_mw.gpu import cuda_kernels

SCATTER_DTYPES = (np.int32, np.int64, np.uint32, np.uint64, np.float32, np.float64)
RAW_MAX_BLOCK = 8  # threads of a block that syncs: any count is valid, fewer run faster


class DeviceArray(np.ndarray):
    """A NumPy array with the cupy.ndarray methods the GPU path calls."""

    def set(self, arr: Any, stream: Any = None) -> None:
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if self.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new: {arr.shape}")
        if not self.flags.c_contiguous:
            raise RuntimeError("Cannot set to non-contiguous array")
        np.copyto(self, arr)
        STREAMS.copied(self, stream)

    def get(self, stream: Any = None) -> np.ndarray:
        return np.array(self)


def _root(a: np.ndarray) -> int:
    """Identity of the allocation an array views."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return id(a)


class _Streams:
    """Stream order, as far as host-to-device copies go.

    A copy (`asarray`, `ndarray.set`) is pending on the stream it was issued on until that
    stream is synchronized or another stream waits for an event recorded after it.  A
    kernel that reads an array with a copy pending on another stream is a race, unless both
    streams are blocking (the legacy default stream orders those).
    """

    def __init__(self) -> None:
        self.all: list[_Stream] = []
        self.legacy = _Stream(self, non_blocking=False, null=True)
        self.stack = [self.legacy]
        self.serial = 0

    @property
    def current(self) -> _Stream:
        return self.stack[-1]

    def copied(self, array: np.ndarray, stream: _Stream | None = None) -> None:
        self.serial += 1
        (stream or self.current).pending.add((_root(array), self.serial))

    def check_launch(self, arrays: list) -> None:
        here = self.current
        for array in arrays:
            root = _root(array)
            for other in self.all:
                if other is here:
                    continue
                if not (other.non_blocking or here.non_blocking):
                    continue
                for copy in other.pending:
                    if copy[0] == root and copy not in here.waited:
                        raise RuntimeError(
                            "race: a kernel reads an array whose host-to-device copy is still "
                            "pending on another stream (no synchronize or wait_event between)")


class _Stream:
    def __init__(self, streams: _Streams, non_blocking: bool = False,
                 null: bool = False) -> None:
        self.streams = streams
        self.non_blocking = non_blocking
        self.pending: set[tuple[int, int]] = set()
        self.waited: set[tuple[int, int]] = set()
        streams.all.append(self)

    def __enter__(self) -> _Stream:
        self.streams.stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.streams.stack.pop()

    def record(self, event: Any = None) -> frozenset:
        return frozenset(self.pending)

    def wait_event(self, event: frozenset) -> None:
        self.waited |= event

    def synchronize(self) -> None:
        self.pending.clear()


class _Device:
    id = 0

    def __init__(self, streams: _Streams | None = None) -> None:
        self.streams = streams

    def synchronize(self) -> None:
        if self.streams is not None:
            for stream in self.streams.all:
                stream.pending.clear()


def _options(options: Any) -> None:
    if not isinstance(options, tuple):
        raise TypeError(f"options must be a tuple, got {type(options).__name__}")


STREAMS: _Streams  # of the emulation installed last


class Emulation:
    """The `cupy`, `cupyx` and `cupyx.scipy.ndimage` modules, kernels built in `workdir`."""

    def __init__(self, workdir: Path, cxx: str) -> None:
        global STREAMS
        STREAMS = self.streams = _Streams()
        self.workdir = workdir
        self.cxx = cxx
        # the project's kernels in one compiler run; others (edited ones) one by one
        sources = cuda_kernels.standalone_sources()
        prebuilt = cuda_host.build_host(sources, workdir, cxx)
        self._built: dict[str, Any] = {sources[name]: prebuilt[name] for name in sources}
        self.cupy = self._cupy()
        self.cupyx = self._cupyx()

    def _build(self, name: str, source: str) -> Any:
        key = source
        if key not in self._built:
            folder = self.workdir / f"k{len(self._built)}"
            folder.mkdir()
            self._built[key] = cuda_host.build_host({name: source}, folder, self.cxx)[name]
        return self._built[key]

    # --- cupy -------------------------------------------------------------------------
    def _cupy(self) -> types.ModuleType:
        emulation = self
        cp = types.ModuleType("cupy")
        cp.__version__ = "14.2.0"
        cp.__getattr__ = lambda name: getattr(np, name)  # the rest: NumPy's own

        def empty(shape: Any, dtype: Any = float, order: str = "C") -> DeviceArray:
            return np.empty(shape, dtype=dtype, order=order).view(DeviceArray)

        def zeros(shape: Any, dtype: Any = float, order: str = "C") -> DeviceArray:
            return np.zeros(shape, dtype=dtype, order=order).view(DeviceArray)

        def asnumpy(a: Any, stream: Any = None) -> np.ndarray:
            return np.array(a)

        def asarray(a: Any, dtype: Any = None, order: Any = None) -> Any:
            if isinstance(a, DeviceArray) and (dtype is None or a.dtype == dtype):
                return a
            out = np.array(a, dtype=dtype, copy=True).view(DeviceArray)
            emulation.streams.copied(out)  # an asynchronous upload on the current stream
            return out

        def argsort(a: Any, axis: int = -1, kind: Any = None) -> np.ndarray:
            if kind is not None and kind != "stable":
                raise ValueError("kind can only be None or 'stable'")
            return np.argsort(a, axis=axis, kind="stable")

        def bincount(x: Any, weights: Any = None, minlength: Any = None) -> np.ndarray:
            x = np.asarray(x)
            if x.ndim != 1:
                raise ValueError("object too deep or too small for desired array")
            if x.dtype.kind == "f":
                raise TypeError("x must be int array")
            if (x < 0).any():
                raise ValueError("The first argument of bincount must be non-negative")
            if weights is not None and np.shape(weights) != x.shape:
                raise ValueError("The weights and list don't have the same length.")
            if x.size == 0:
                return np.zeros(minlength or 0, dtype=np.intp)
            return np.bincount(x, weights=weights, minlength=minlength or 0)

        class ElementwiseKernel:
            def __init__(self, in_params: str, out_params: str, operation: str,
                         name: str = "kernel", options: tuple = (), **kwargs: Any) -> None:
                _options(options)
                self.args = (in_params, out_params, operation, name)
                self.n_in = len(in_params.split(","))
                self.types = [p.split()[0] for p in (in_params + "," + out_params).split(",")]
                self.names = [p.split()[1] for p in (in_params + "," + out_params).split(",")]

            def __call__(self, *args: Any) -> Any:
                if len(args) != len(self.types):
                    raise TypeError("pass every input and the output (as the GPU path does)")
                out = args[-1]
                scalars = tuple(
                    name for name, arg in zip(self.names, args, strict=True)
                    if not isinstance(arg, np.ndarray)
                )
                in_params, out_params, operation, name = self.args
                source = cuda_kernels.elementwise_source(
                    name, in_params, out_params, operation, scalars=scalars)
                kernel = emulation._build(name, source)
                values = []
                for arg, dtype in zip(args, self.types, strict=True):
                    if isinstance(arg, np.ndarray):
                        arg = np.ascontiguousarray(np.broadcast_to(arg, out.shape))
                        if arg.dtype != np.dtype(dtype):
                            raise TypeError(f"{arg.dtype} operand for a {dtype} parameter")
                    else:
                        arg = np.dtype(dtype).type(arg)
                    values.append(arg)
                if not out.flags.c_contiguous:
                    raise ValueError("output must be contiguous here")
                values[-1] = out
                emulation.streams.check_launch(list(args[:-1]))
                kernel((8,), (128,), (*values, np.int64(out.size)))
                return out

        class ReductionKernel:
            def __init__(self, in_params: str, out_params: str, map_expr: str,
                         reduce_expr: str, post_map_expr: str, identity: Any,
                         name: str = "reduce_kernel", options: tuple = (),
                         **kwargs: Any) -> None:
                _options(options)
                self.source = cuda_kernels.row_reduction_source(
                    name, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                    str(identity))
                self.name = name
                self.out_dtype = np.dtype(out_params.split()[0])

            def __call__(self, x: Any, axis: Any = None) -> np.ndarray:
                if axis != 1 or x.ndim != 2:
                    raise NotImplementedError("the emulation reduces rows of 2-D arrays only")
                x = np.ascontiguousarray(x)
                out = np.empty(x.shape[0], dtype=self.out_dtype)
                kernel = emulation._build(self.name, self.source)
                emulation.streams.check_launch([x])
                kernel((4,), (32,), (x, out, np.int64(x.shape[0]), np.int64(x.shape[1])))
                return out

        class RawKernel:
            def __init__(self, code: str, name: str, options: tuple = (),
                         backend: str = "nvrtc", **kwargs: Any) -> None:
                _options(options)
                self.kernel = emulation._build(name, code)
                if self.kernel.threaded:
                    self.kernel.max_block = RAW_MAX_BLOCK

            def __call__(self, grid: tuple, block: tuple, args: tuple, **kwargs: Any) -> None:
                emulation.streams.check_launch([a for a in args if isinstance(a, np.ndarray)])
                self.kernel(grid, block, args)

        streams = self.streams
        cuda = types.SimpleNamespace(
            Stream=lambda null=False, non_blocking=False: _Stream(streams, non_blocking, null),
            Device=lambda device=None: _Device(streams),
            get_current_stream=lambda: streams.current,
            runtime=types.SimpleNamespace(
                getDeviceCount=lambda: 1,
                getDeviceProperties=lambda device: {"name": b"CuPy emulation on the CPU"},
            ),
        )
        cp.__dict__.update(
            ndarray=DeviceArray, empty=empty, zeros=zeros, asnumpy=asnumpy, asarray=asarray,
            array=asarray, argsort=argsort,
            bincount=bincount, ElementwiseKernel=ElementwiseKernel,
            ReductionKernel=ReductionKernel, RawKernel=RawKernel, cuda=cuda,
        )
        return cp

    # --- cupyx ------------------------------------------------------------------------
    def _cupyx(self) -> types.ModuleType:
        cpx = types.ModuleType("cupyx")

        def scatter(ufunc: Any) -> Any:
            def scatter_op(a: np.ndarray, slices: Any, value: Any) -> None:
                if a.dtype.type not in SCATTER_DTYPES:
                    raise TypeError(f"cupy.{ufunc.__name__}.at does not support {a.dtype}")
                ufunc.at(a, slices, np.asarray(value).astype(a.dtype, copy=False))
            return scatter_op

        def empty_pinned(shape: Any, dtype: Any = float, order: str = "C") -> np.ndarray:
            return np.empty(shape, dtype=dtype, order=order)

        ndimage = types.ModuleType("cupyx.scipy.ndimage")
        for name in ("label", "maximum_filter", "maximum_filter1d", "minimum_filter",
                     "minimum_filter1d"):
            setattr(ndimage, name, getattr(scipy.ndimage, name))
        cpx_scipy = types.ModuleType("cupyx.scipy")
        cpx_scipy.ndimage = ndimage
        cpx.__dict__.update(scatter_max=scatter(np.maximum), scatter_min=scatter(np.minimum),
                            empty_pinned=empty_pinned, scipy=cpx_scipy)
        return cpx

    def modules(self) -> dict[str, types.ModuleType]:
        return {"cupy": self.cupy, "cupyx": self.cupyx, "cupyx.scipy": self.cupyx.scipy,
                "cupyx.scipy.ndimage": self.cupyx.scipy.ndimage}


def _clear_caches() -> None:
    from cygno_mw.gpu import backend

    backend.cupy_backend.cache_clear()
    for factory in (cuda_kernels.zero_suppress_kernel, cuda_kernels.sum_of_squares_kernel,
                    cuda_kernels.median_rebin_kernel, cuda_kernels.noise_clean_kernel):
        factory.cache_clear()


@contextlib.contextmanager
def installed(emulation: Emulation) -> Iterator[Emulation]:
    """`import cupy` gives the emulation inside the block; everything is undone after it."""
    saved = {name: sys.modules.get(name) for name in emulation.modules()}
    _clear_caches()
    sys.modules.update(emulation.modules())
    try:
        yield emulation
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        _clear_caches()
