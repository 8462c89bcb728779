/* CUDA built-ins for running the project's kernels on the host (tests/cuda_host.py).

   A kernel becomes a plain C++ function; `host_launch` runs it for every block of the grid
   and every thread of the block.  Kernels that call __syncthreads() get one std::thread per
   CUDA thread of a block and a std::barrier for __syncthreads(), so their inter-thread
   ordering is exercised as on a GPU; the others run their threads one after another.
   Float arithmetic is the host's IEEE float/double (build with -ffp-contract=off, the
   counterpart of the kernels' --fmad=false), so results compare bit for bit with NumPy. */
#pragma once

#include <barrier>
#include <cmath>
#include <math.h>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

static thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
static thread_local std::barrier<>* cygno_host_block_barrier = nullptr;

static inline void __syncthreads()
{
    cygno_host_block_barrier->arrive_and_wait();
}

template <typename... Args>
void host_launch(void (*kernel)(Args...), bool threaded, unsigned int grid, unsigned int block,
                 std::type_identity_t<Args>... args)
{
    for (unsigned int b = 0; b < grid; ++b) {
        if (!threaded) {
            gridDim = dim3{grid, 1, 1};
            blockDim = dim3{block, 1, 1};
            blockIdx = dim3{b, 0, 0};
            for (unsigned int t = 0; t < block; ++t) {
                threadIdx = dim3{t, 0, 0};
                kernel(args...);
            }
            continue;
        }
        std::barrier<> sync(block);
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned int t = 0; t < block; ++t) {
            threads.emplace_back([&, t] {
                gridDim = dim3{grid, 1, 1};
                blockDim = dim3{block, 1, 1};
                blockIdx = dim3{b, 0, 0};
                threadIdx = dim3{t, 0, 0};
                cygno_host_block_barrier = &sync;
                kernel(args...);
            });
        }
        for (auto& thread : threads) thread.join();
    }
}
