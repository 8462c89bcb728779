"""Every CUDA source the project carries compiles with nvcc for the GPUs CuPy targets.

So a syntax or type error in a kernel fails CI, which has no GPU.  One nvcc run per test
session builds all sources (each under its own #line file name, so errors name the kernel)
as sm_80 (A100) and sm_90 (H100/H200) code with the options CuPy compiles them with;
warnings count as errors.  Skipped when nvcc is not installed.
"""

from __future__ import annotations

import re

import cuda_host
import pytest

from cygno_mw.gpu import cuda_kernels

SOURCES = cuda_kernels.standalone_sources()


@pytest.fixture(scope="module")
def nvcc():
    found = cuda_host.find_nvcc()
    if found is None:
        pytest.skip("nvcc not found (PATH, /usr/local/cuda*/bin): CUDA toolkit not installed")
    return found


@pytest.fixture(scope="module")
def compiled(nvcc, tmp_path_factory) -> bytes:
    """The object file of all sources (sm_80 and sm_90 code), compiled once."""
    unit = "\n".join(f'#line 1 "{name}.cu"\n{source}' for name, source in SOURCES.items())
    out = tmp_path_factory.mktemp("nvcc") / "cuda_kernels.o"
    cuda_host.nvcc_compile(unit, out, nvcc, cuda_kernels.KERNEL_OPTIONS)
    return out.read_bytes()


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_kernel_compiles_for_sm80_and_sm90(compiled, name):
    assert name.encode() in compiled


def test_every_kernel_is_carried_and_named_as_cupy_calls_it():
    """The raw kernels' sources are the strings CuPy compiles; each defines its entry."""
    assert SOURCES["cygno_median_rebin"] is cuda_kernels.MEDIAN_REBIN_SOURCE
    assert SOURCES["cygno_noise_clean"] is cuda_kernels.NOISE_CLEAN_SOURCE
    for name, source in SOURCES.items():
        assert list(cuda_host.kernel_signatures(source)) == [name]
    carried = {
        value for key, value in vars(cuda_kernels).items()
        if key.endswith("_SOURCE") and isinstance(value, str)
    }
    assert carried <= set(SOURCES.values())


def test_a_broken_kernel_fails_to_compile(nvcc, tmp_path):
    broken = re.sub(r"fminf\(up, here\)", "fminf(up, here, 0)", cuda_kernels.MEDIAN_REBIN_SOURCE)
    with pytest.raises(AssertionError, match="nvcc failed"):
        cuda_host.nvcc_compile(broken, tmp_path / "broken.o", nvcc, cuda_kernels.KERNEL_OPTIONS)
