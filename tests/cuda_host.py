"""The project's CUDA kernels without a GPU: compiled with nvcc, and run on the host.

`find_nvcc` / `find_cxx` locate the compilers (None when absent: tests skip).  `build_host`
compiles every source of `cuda_kernels.standalone_sources()` with g++ against
cuda_host_shim.h into one shared library and returns `HostKernel`s that are called like
CuPy's RawKernel, `kernel(grid, block, args)`, with NumPy arrays where CuPy takes device
arrays: each argument is checked against the kernel's C signature (type, contiguity), so
a launcher passing the wrong type or order fails here instead of on a GPU.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

SHIM = Path(__file__).resolve().parent / "cuda_host_shim.h"

# architectures CuPy targets on the GPUs we run on (A100: sm_80, H100/H200: sm_90)
NVCC_ARCHS = ("80", "90")

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)

_SCALARS: dict[str, Any] = {
    "int": (ctypes.c_int, np.int32),
    "unsigned int": (ctypes.c_uint, np.uint32),
    "long long": (ctypes.c_longlong, np.int64),
    "float": (ctypes.c_float, np.float32),
    "double": (ctypes.c_double, np.float64),
}
_POINTEES = {
    "unsigned short": np.uint16,
    "int": np.int32,
    "long long": np.int64,
    "float": np.float32,
    "double": np.float64,
}


def find_nvcc() -> str | None:
    """nvcc on PATH, else in CUDA's usual bin folders (newest first)."""
    found = shutil.which("nvcc")
    if found:
        return found
    for candidate in sorted(glob.glob("/usr/local/cuda*/bin/nvcc"), reverse=True):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find_cxx() -> str | None:
    """A C++20 compiler: $CXX, else g++."""
    return shutil.which(os.environ.get("CXX", "g++"))


def kernel_signatures(source: str) -> dict[str, list[tuple[str, str, bool]]]:
    """name -> [(C type without qualifiers, parameter name, is_pointer)] of each kernel."""
    out = {}
    for name, params in _KERNEL.findall(source):
        parsed = []
        for param in params.split(","):
            words = param.replace("*", " * ").split()
            pointer = "*" in words
            words = [w for w in words if w not in ("const", "__restrict__", "*")]
            parsed.append((" ".join(words[:-1]), words[-1], pointer))
        out[name] = parsed
    return out


class HostKernel:
    """One kernel of the host library, called like cupy.RawKernel."""

    def __init__(self, function: Any, name: str, params: list, threaded: bool) -> None:
        self.name = name
        self.params = params
        self.threaded = threaded
        self.max_block: int | None = None  # cap the threads of a block (any count is valid)
        self._function = function
        function.restype = None
        function.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
            ctypes.c_void_p if pointer else _SCALARS[ctype][0] for ctype, _, pointer in params
        ]

    def __call__(self, grid: tuple, block: tuple, args: tuple) -> None:
        if len(grid) != 1 or len(block) != 1:
            raise ValueError(f"{self.name}: the host shim launches 1-D grids only")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(self.params)}")
        values = []
        for arg, (ctype, pname, pointer) in zip(args, self.params, strict=True):
            if pointer:
                want = _POINTEES[ctype]
                if not isinstance(arg, np.ndarray) or arg.dtype != want:
                    raise TypeError(f"{self.name}({pname}): needs a {np.dtype(want)} array, "
                                    f"got {getattr(arg, 'dtype', type(arg))}")
                if not arg.flags.c_contiguous:
                    raise TypeError(f"{self.name}({pname}): array must be C-contiguous")
                values.append(arg.ctypes.data)
            else:
                want = _SCALARS[ctype][1]
                if not isinstance(arg, np.generic) or arg.dtype != want:
                    raise TypeError(f"{self.name}({pname}): needs a NumPy {np.dtype(want)} "
                                    f"scalar (CuPy passes its exact bits), got {arg!r}")
                values.append(arg.item())
        threads = int(block[0])
        if self.max_block:
            threads = min(threads, self.max_block)
        self._function(int(grid[0]), threads, *values)


def build_host(sources: dict[str, str], workdir: Path, cxx: str) -> dict[str, HostKernel]:
    """Compile the kernels for the host; returns name -> HostKernel."""
    unit = [f'#include "{SHIM}"']
    launchers = []
    signatures: dict[str, list] = {}
    threaded: dict[str, bool] = {}
    for name, source in sources.items():
        unit.append(source)
        sig = kernel_signatures(source)[name]
        signatures[name] = sig
        threaded[name] = "__syncthreads" in source
        decl = ", ".join(
            f"{ctype}* {pname}" if pointer else f"{ctype} {pname}"
            for ctype, pname, pointer in sig
        )
        call = ", ".join(pname for _, pname, _ in sig)
        launchers.append(
            f'extern "C" void host_{name}(unsigned int grid, unsigned int block, {decl})\n'
            f"{{ host_launch({name}, {str(threaded[name]).lower()}, grid, block, {call}); }}"
        )
    path = workdir / "cuda_kernels_host.cpp"
    path.write_text("\n".join(unit + launchers) + "\n")
    library = workdir / "libcuda_kernels_host.so"
    subprocess.run(
        [cxx, "-std=c++20", "-O2", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared",
         "-pthread", "-Wall", "-Werror", "-o", str(library), str(path)],
        check=True, capture_output=True, text=True,
    )
    lib = ctypes.CDLL(str(library))
    return {
        name: HostKernel(getattr(lib, f"host_{name}"), name, signatures[name], threaded[name])
        for name in sources
    }


def nvcc_compile(source: str, out: Path, nvcc: str, options: tuple[str, ...]) -> None:
    """Compile one CUDA source to an object for every arch in NVCC_ARCHS; raises with the
    compiler's message on any error or warning."""
    src = out.with_suffix(".cu")
    src.write_text(source)
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in NVCC_ARCHS]
    result = subprocess.run(
        [nvcc, "-c", *options, *gencode, "-Werror", "all-warnings", "-o", str(out), str(src)],
        capture_output=True, text=True,
    )
    if result.returncode:
        raise AssertionError(f"nvcc failed on {src.name}:\n{result.stdout}{result.stderr}")
