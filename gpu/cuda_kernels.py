"""CUDA kernels for steps 2-5, compiled by CuPy on first use (never imported on the CPU path).

The kernels repeat the NumPy path's float32 operations in the same order, so the GPU gives
bit-identical zero-suppressed, rebinned and cleaned images: the zero suppression is one
subtraction and two comparisons; the median is a min/max selection; the block sum adds rows
first, then columns; the cleaning sums the 8 neighbours in the experiment's order.  They are
built with `KERNEL_OPTIONS` (no fused multiply-add contraction), like the NumPy path, which
never fuses.

`standalone_sources()` gives every CUDA source carried here as a complete translation unit, so
CI compiles each one with nvcc for the GPUs CuPy targets and runs it on the host through a
small shim (tests/cuda_host.py) against the NumPy path, without a GPU.
"""

from __future__ import annotations

import functools
from typing import Any

# nvcc / NVRTC contract a * b + c into one fma by default; NumPy never does.  None of the
# kernels has such a pattern today; the flag keeps it so when one is edited.
KERNEL_OPTIONS = ("--fmad=false",)

# CuPy ElementwiseKernel of step 2: (raw uint16, ped f32, thr f32, cimax int32) -> zs f32
ZERO_SUPPRESS_IN = "uint16 raw, float32 ped, float32 thr, int32 cimax"
ZERO_SUPPRESS_OUT = "float32 zs"
ZERO_SUPPRESS_SCALARS = ("cimax",)  # passed as a scalar, not an array, by frame_gpu
ZERO_SUPPRESS_BODY = """
float s = (float)raw - ped;
zs = ((int)raw < cimax && s > thr) ? s : 0.0f;
"""

# CuPy ReductionKernel: float64 sum of squares of float32 values (no float64 copy).  The
# order of the additions is CuPy's tree, not NumPy's pairwise one: cmos_rms agrees with the
# CPU's within float rounding only (it is a whole-frame monitor number, not a cluster input).
SUM_OF_SQUARES_IN = "float32 x"
SUM_OF_SQUARES_OUT = "float64 y"
SUM_OF_SQUARES_MAP = "(double)x * (double)x"
SUM_OF_SQUARES_REDUCE = "a + b"
SUM_OF_SQUARES_POST = "y = a"
SUM_OF_SQUARES_IDENTITY = "0"

MEDIAN_REBIN_SOURCE = r"""
extern "C" __global__
void cygno_median_rebin(const float* __restrict__ zs, float* __restrict__ out,
                        const int n_images, const int rows, const int cols, const int rebin)
{
    const int out_rows = rows / rebin;
    const int out_cols = cols / rebin;
    const long long total = (long long)n_images * out_rows * out_cols;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += stride) {
        const int oc = (int)(idx % out_cols);
        const int orow = (int)((idx / out_cols) % out_rows);
        const long long image = idx / ((long long)out_cols * out_rows);
        const float* z = zs + image * (long long)rows * cols;
        float acc = 0.0f;
        for (int dc = 0; dc < rebin; ++dc) {
            const int c = oc * rebin + dc;
            /* the experiment's window in its mirrored frame: raw columns c, c + 1 */
            const int cr = c < cols - 1 ? c + 1 : c;  /* reflected right edge */
            float column_sum = 0.0f;
            for (int dr = 0; dr < rebin; ++dr) {
                const int r = orow * rebin + dr;
                const int ru = r > 0 ? r - 1 : 0;  /* mirrored top edge */
                const float up = z[(long long)ru * cols + c];
                const float up_right = z[(long long)ru * cols + cr];
                const float here = z[(long long)r * cols + c];
                const float right = z[(long long)r * cols + cr];
                const float lo_here = fminf(up, here), hi_here = fmaxf(up, here);
                const float lo_right = fminf(up_right, right), hi_right = fmaxf(up_right, right);
                const float med = fmaxf(fmaxf(lo_here, lo_right), fminf(hi_here, hi_right));
                column_sum = (dr == 0) ? med : column_sum + med;
            }
            acc = (dc == 0) ? column_sum : acc + column_sum;
        }
        out[idx] = acc / (float)(rebin * rebin);
    }
}
"""


NOISE_CLEAN_SOURCE = r"""
extern "C" __global__
void cygno_noise_clean(const float* __restrict__ original, float* __restrict__ current,
                       const int rows, const int cols, const float outlier,
                       const float min_mean, const int min_active)
{
    /* One block per image.  The experiment visits (k, j) of its left-right mirrored frame
       in raster order, updating in place: raw rows 1 .. rows-3 top to bottom, raw columns
       c = cols-2 down to 2 (j = cols-1-c).  (k, j) reads the visited (k-1, j-1), (k, j-1),
       (k-1, j), (k-1, j+1) of that frame, so all pixels with the same 2k + j can be done
       at once: a wavefront of 3n steps.  a..i are named and summed as the experiment
       names them in its frame: its column j-1 is raw column c+1. */
    const long long base = (long long)blockIdx.x * rows * cols;
    const float* o = original + base;
    float* x = current + base;
    const int last_row = rows - 3, last_col = cols - 3;
    for (int t = 3; t <= 2 * last_row + last_col; ++t) {
        for (int k = 1 + threadIdx.x; k <= last_row; k += blockDim.x) {
            const int j = t - 2 * k;
            if (j >= 1 && j <= last_col) {
                const long long p = (long long)k * cols + (cols - 1 - j);
                const float a = x[p - cols + 1], b = x[p + 1], c = o[p + cols + 1];
                const float d = x[p - cols], spx = o[p], f = o[p + cols];
                const float g = x[p - cols - 1], h = o[p - 1], i = o[p + cols - 1];
                float total = a + b;
                total += c; total += d; total += f; total += g; total += h; total += i;
                const int active = (a != 0.0f) + (b != 0.0f) + (c != 0.0f) + (d != 0.0f)
                    + (f != 0.0f) + (g != 0.0f) + (h != 0.0f) + (i != 0.0f) + (spx != 0.0f);
                const float mean = total / 8.0f;
                float value = (fabsf(spx - mean) > outlier) ? mean : spx;
                if (mean < min_mean || active < min_active) value = 0.0f;
                x[p] = value;
            }
        }
        __syncthreads();
    }
}
"""


@functools.cache
def zero_suppress_kernel() -> Any:
    """ElementwiseKernel(raw uint16, ped f32, thr f32, cimax int32) -> zs f32."""
    import cupy

    return cupy.ElementwiseKernel(
        ZERO_SUPPRESS_IN, ZERO_SUPPRESS_OUT, ZERO_SUPPRESS_BODY, "cygno_zero_suppress",
        options=KERNEL_OPTIONS,
    )


@functools.cache
def sum_of_squares_kernel() -> Any:
    """ReductionKernel: float64 sum of squares of float32 values (no float64 copy)."""
    import cupy

    return cupy.ReductionKernel(
        SUM_OF_SQUARES_IN, SUM_OF_SQUARES_OUT, SUM_OF_SQUARES_MAP, SUM_OF_SQUARES_REDUCE,
        SUM_OF_SQUARES_POST, SUM_OF_SQUARES_IDENTITY, "cygno_sum_of_squares",
        options=KERNEL_OPTIONS,
    )


@functools.cache
def median_rebin_kernel() -> Any:
    import cupy

    return cupy.RawKernel(MEDIAN_REBIN_SOURCE, "cygno_median_rebin", options=KERNEL_OPTIONS)


@functools.cache
def noise_clean_kernel() -> Any:
    import cupy

    return cupy.RawKernel(NOISE_CLEAN_SOURCE, "cygno_noise_clean", options=KERNEL_OPTIONS)


def noise_clean(original: Any, current: Any, outlier: float, min_mean: float,
                min_active: int, kernel: Any = None) -> Any:
    """Raster-order noise cleaning of a (n, rows, cols) stack; `current` starts as a copy.

    `kernel` replaces the CuPy RawKernel (the tests pass the host build of the same source).
    """
    import numpy as np

    n, rows, cols = original.shape
    if rows < 4 or cols < 4:
        current.fill(0)
        return current
    threads = min(1024, max(32, ((rows - 3 + 31) // 32) * 32))
    (kernel or noise_clean_kernel())(
        (n,),
        (threads,),
        (original, current, np.int32(rows), np.int32(cols), np.float32(outlier),
         np.float32(min_mean), np.int32(min_active)),
    )
    return current


def median_rebin(zs: Any, out: Any, rebin: int, kernel: Any = None) -> Any:
    """Launch the median+rebin kernel on a (n, rows, cols) float32 stack into `out`
    (`kernel` as in noise_clean)."""
    import numpy as np

    n, rows, cols = zs.shape
    total = n * (rows // rebin) * (cols // rebin)
    threads = 256
    blocks = min((total + threads - 1) // threads, 65535)
    (kernel or median_rebin_kernel())(
        (blocks,),
        (threads,),
        (zs, out, np.int32(n), np.int32(rows), np.int32(cols), np.int32(rebin)),
    )
    return out


# --- every source above as a complete translation unit (nvcc and host checks in CI) ---

# CuPy's C names of the dtypes used in the kernel signatures above
_CTYPES = {
    "uint16": "unsigned short",
    "int32": "int",
    "int64": "long long",
    "uint64": "unsigned long long",
    "float32": "float",
    "float64": "double",
}


def _params(spec: str) -> list[tuple[str, str]]:
    """'uint16 raw, float32 ped' -> [('unsigned short', 'raw'), ('float', 'ped')]."""
    out = []
    for item in spec.split(","):
        dtype, name = item.split()
        out.append((_CTYPES[dtype], name))
    return out


def elementwise_source(
    name: str, in_params: str, out_params: str, body: str, scalars: tuple[str, ...] = ()
) -> str:
    """A CUDA kernel doing what CuPy's ElementwiseKernel(in_params, out_params, body) does on
    contiguous operands: each array operand is bound by reference to its element, as CuPy's
    generated code binds it (`const T &raw = ...`), scalars are passed by value, and a
    grid-stride loop runs over `_n` elements."""
    args, binds = [], []
    for ctype, pname in _params(in_params):
        if pname in scalars:
            args.append(f"const {ctype} {pname}")
        else:
            args.append(f"const {ctype}* __restrict__ _raw_{pname}")
            binds.append(f"const {ctype} &{pname} = _raw_{pname}[_i];")
    for ctype, pname in _params(out_params):
        args.append(f"{ctype}* __restrict__ _raw_{pname}")
        binds.append(f"{ctype} &{pname} = _raw_{pname}[_i];")
    args.append("const long long _n")
    bound = "\n        ".join(binds)
    return f"""
extern "C" __global__
void {name}({", ".join(args)})
{{
    const long long _stride = (long long)blockDim.x * gridDim.x;
    for (long long _i = (long long)blockIdx.x * blockDim.x + threadIdx.x; _i < _n;
         _i += _stride) {{
        {bound}
        {body.strip()}
    }}
}}
"""


def row_reduction_source(
    name: str, in_params: str, out_params: str, map_expr: str, reduce_expr: str,
    post_map_expr: str, identity: str,
) -> str:
    """A CUDA kernel doing CuPy's ReductionKernel(...)(x, axis=1) on a contiguous (rows, cols)
    operand, one row per thread, left to right (CuPy's own order is a tree: the same
    expressions, another order of the float additions)."""
    (in_ctype, in_name), = _params(in_params)
    (out_ctype, out_name), = _params(out_params)
    return f"""
extern "C" __global__
void {name}(const {in_ctype}* __restrict__ _raw_{in_name},
            {out_ctype}* __restrict__ _raw_{out_name}, const long long _rows,
            const long long _cols)
{{
    const long long _stride = (long long)blockDim.x * gridDim.x;
    for (long long _r = (long long)blockIdx.x * blockDim.x + threadIdx.x; _r < _rows;
         _r += _stride) {{
        {out_ctype} _acc = ({out_ctype})({identity});
        for (long long _j = 0; _j < _cols; ++_j) {{
            const {in_ctype} &{in_name} = _raw_{in_name}[_r * _cols + _j];
            const {out_ctype} a = _acc, b = ({map_expr});
            _acc = ({reduce_expr});
        }}
        {out_ctype} &{out_name} = _raw_{out_name}[_r];
        const {out_ctype} a = _acc;
        {post_map_expr};
    }}
}}
"""


def standalone_sources() -> dict[str, str]:
    """Kernel name -> complete CUDA source for every kernel of this module.

    The raw kernels are the very strings CuPy compiles; the elementwise and reduction kernels
    wrap the same expressions the way CuPy's generated code does.  Needs no CuPy.
    """
    return {
        "cygno_zero_suppress": elementwise_source(
            "cygno_zero_suppress", ZERO_SUPPRESS_IN, ZERO_SUPPRESS_OUT, ZERO_SUPPRESS_BODY,
            ZERO_SUPPRESS_SCALARS,
        ),
        "cygno_sum_of_squares": row_reduction_source(
            "cygno_sum_of_squares", SUM_OF_SQUARES_IN, SUM_OF_SQUARES_OUT, SUM_OF_SQUARES_MAP,
            SUM_OF_SQUARES_REDUCE, SUM_OF_SQUARES_POST, SUM_OF_SQUARES_IDENTITY,
        ),
        "cygno_median_rebin": MEDIAN_REBIN_SOURCE,
        "cygno_noise_clean": NOISE_CLEAN_SOURCE,
    }
