"""CUDA kernels for steps 2-4, compiled by CuPy on first use (never imported on the CPU path).

Both kernels repeat the NumPy path's float32 operations in the same order, so the GPU gives
bit-identical rebinned images: the zero suppression is one subtraction and two comparisons;
the median is a min/max selection; the block sum adds rows first, then columns.
"""

from __future__ import annotations

import functools
from typing import Any

ZERO_SUPPRESS_BODY = """
float s = (float)raw - ped;
zs = ((int)raw < cimax && s > thr) ? s : 0.0f;
"""

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
            const int cl = c > 0 ? c - 1 : 0;  /* mirrored left edge */
            float column_sum = 0.0f;
            for (int dr = 0; dr < rebin; ++dr) {
                const int r = orow * rebin + dr;
                const int ru = r > 0 ? r - 1 : 0;  /* mirrored top edge */
                const float up_left = z[(long long)ru * cols + cl];
                const float up = z[(long long)ru * cols + c];
                const float left = z[(long long)r * cols + cl];
                const float here = z[(long long)r * cols + c];
                const float lo_left = fminf(up_left, left), hi_left = fmaxf(up_left, left);
                const float lo_here = fminf(up, here), hi_here = fmaxf(up, here);
                const float med = fmaxf(fmaxf(lo_left, lo_here), fminf(hi_left, hi_here));
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
    /* One block per image.  The experiment visits (k, j) in raster order, updating in
       place; (k, j) reads the visited (k-1, j-1), (k, j-1), (k-1, j), (k-1, j+1), so all
       pixels with the same 2k + j can be done at once: a wavefront of 3n steps. */
    const long long base = (long long)blockIdx.x * rows * cols;
    const float* o = original + base;
    float* x = current + base;
    const int last_row = rows - 3, last_col = cols - 3;
    for (int t = 3; t <= 2 * last_row + last_col; ++t) {
        for (int k = 1 + threadIdx.x; k <= last_row; k += blockDim.x) {
            const int j = t - 2 * k;
            if (j >= 1 && j <= last_col) {
                const long long p = (long long)k * cols + j;
                const float a = x[p - cols - 1], b = x[p - 1], c = o[p + cols - 1];
                const float d = x[p - cols], spx = o[p], f = o[p + cols];
                const float g = x[p - cols + 1], h = o[p + 1], i = o[p + cols + 1];
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
        "uint16 raw, float32 ped, float32 thr, int32 cimax",
        "float32 zs",
        ZERO_SUPPRESS_BODY,
        "cygno_zero_suppress",
    )


@functools.cache
def sum_of_squares_kernel() -> Any:
    """ReductionKernel: float64 sum of squares of float32 values (no float64 copy)."""
    import cupy

    return cupy.ReductionKernel(
        "float32 x", "float64 y", "(double)x * (double)x", "a + b", "y = a", "0",
        "cygno_sum_of_squares",
    )


@functools.cache
def median_rebin_kernel() -> Any:
    import cupy

    return cupy.RawKernel(MEDIAN_REBIN_SOURCE, "cygno_median_rebin")


@functools.cache
def noise_clean_kernel() -> Any:
    import cupy

    return cupy.RawKernel(NOISE_CLEAN_SOURCE, "cygno_noise_clean")


def noise_clean(original: Any, current: Any, outlier: float, min_mean: float,
                min_active: int) -> Any:
    """Raster-order noise cleaning of a (n, rows, cols) stack; `current` starts as a copy."""
    import numpy as np

    n, rows, cols = original.shape
    if rows < 4 or cols < 4:
        current.fill(0)
        return current
    threads = min(1024, max(32, ((rows - 3 + 31) // 32) * 32))
    noise_clean_kernel()(
        (n,),
        (threads,),
        (original, current, np.int32(rows), np.int32(cols), np.float32(outlier),
         np.float32(min_mean), np.int32(min_active)),
    )
    return current


def median_rebin(zs: Any, out: Any, rebin: int) -> Any:
    """Launch the median+rebin kernel on a (n, rows, cols) float32 stack into `out`."""
    import numpy as np

    n, rows, cols = zs.shape
    total = n * (rows // rebin) * (cols // rebin)
    threads = 256
    blocks = min((total + threads - 1) // threads, 65535)
    median_rebin_kernel()(
        (blocks,),
        (threads,),
        (zs, out, np.int32(n), np.int32(rows), np.int32(cols), np.int32(rebin)),
    )
    return out
