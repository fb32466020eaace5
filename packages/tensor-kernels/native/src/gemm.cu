// GEMM, CUDA build (the CPU builds are in gemm.cc):  C = act(op(A)·op(B) [+ C] + bias), fp32, row-major, batched.
//
//   variant   how                                                     where
//   tiled     64×64 output tile per block of 16×16 threads, 4×4        every GPU the addon targets (sm_75+)
//             outputs per thread, K in steps of 16 through shared
//             memory; transposes handled by the tile loads
//   reference gemm_reference in gemm.cc (double accumulation); the CUDA tests compare against it
//
// A plain tiled kernel, not a tensor-core one: first correct on every transpose, stride and epilogue. Each thread
// owns rows ty + 16r and columns tx + 16c of the tile, so shared-memory reads of B and the stores of C are
// consecutive across a warp. Batch entries are blockIdx.z (grid-strided past 65,535).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "activation-cuda.cuh"
#include "cuda.h"

namespace projnative {
namespace cuda {
namespace {

constexpr int kTile = 64, kDepth = 16, kThreads = 16;  // 64×64 tile, 16-deep K steps, 16×16 threads
constexpr int kPer = kTile / kThreads;                 // 4×4 outputs per thread

struct Args {
  const float* a;
  const float* b;
  float* c;
  const float* bias;
  int m, n, k;
  int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
  int batch;
  bool trans_a, trans_b, accumulate;
  int activation;
  float alpha;
};

__global__ void __launch_bounds__(kThreads* kThreads) gemm_tiled(Args g) {
  __shared__ float as[kDepth][kTile + 1];  // as[p][i] = op(A)[row0 + i, p0 + p]
  __shared__ float bs[kDepth][kTile + 1];  // bs[p][j] = op(B)[p0 + p, col0 + j]
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * kThreads + tx;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.y) * kTile;
  for (int z = blockIdx.z; z < g.batch; z += gridDim.z) {
    const float* a = g.a + g.stride_a * z;
    const float* b = g.b + g.stride_b * z;
    float* c = g.c + g.stride_c * z;
    float acc[kPer][kPer] = {};
    for (int p0 = 0; p0 < g.k; p0 += kDepth) {
      // Load the tiles: the fastest-varying index follows memory order, so global reads coalesce.
      for (int e = tid; e < kTile * kDepth; e += kThreads * kThreads) {
        int i, p;
        if (g.trans_a) { p = e / kTile; i = e % kTile; } else { i = e / kDepth; p = e % kDepth; }
        const int64_t gi = row0 + i, gp = p0 + p;
        float va = 0.0f;
        if (gi < g.m && gp < g.k) va = g.trans_a ? a[gp * g.lda + gi] : a[gi * g.lda + gp];
        as[p][i] = va;
        int j;
        if (g.trans_b) { j = e / kDepth; p = e % kDepth; } else { p = e / kTile; j = e % kTile; }
        const int64_t gj = col0 + j, gq = p0 + p;
        float vb = 0.0f;
        if (gj < g.n && gq < g.k) vb = g.trans_b ? b[gj * g.ldb + gq] : b[gq * g.ldb + gj];
        bs[p][j] = vb;
      }
      __syncthreads();
#pragma unroll
      for (int p = 0; p < kDepth; p++) {
        float ra[kPer], rb[kPer];
#pragma unroll
        for (int r = 0; r < kPer; r++) ra[r] = as[p][ty + kThreads * r];
#pragma unroll
        for (int s = 0; s < kPer; s++) rb[s] = bs[p][tx + kThreads * s];
#pragma unroll
        for (int r = 0; r < kPer; r++)
#pragma unroll
          for (int s = 0; s < kPer; s++) acc[r][s] = fmaf(ra[r], rb[s], acc[r][s]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < kPer; r++) {
      const int64_t i = row0 + ty + kThreads * r;
      if (i >= g.m) continue;
#pragma unroll
      for (int s = 0; s < kPer; s++) {
        const int64_t j = col0 + tx + kThreads * s;
        if (j >= g.n) continue;
        float v = acc[r][s];
        float* out = c + i * g.ldc + j;
        if (g.accumulate) v += *out;
        if (g.bias != nullptr) v += g.bias[j];
        *out = activate(v, g.activation, g.alpha);
      }
    }
  }
}

}  // namespace

void check_launch(const char* what) {
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
}

void gemm_batched(const Gemm& g, int batch, int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  if (g.m == 0 || g.n == 0 || batch == 0) return;
  Args args{g.a, g.b, g.c, g.bias, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, stride_a, stride_b, stride_c, batch,
            g.trans_a, g.trans_b, g.accumulate, g.activation, g.alpha};
  const unsigned col_tiles = static_cast<unsigned>((g.n + kTile - 1) / kTile);
  if (col_tiles > 65535) throw std::runtime_error("cuda gemm: n is too large (more than 65,535 column tiles)");
  const dim3 grid(static_cast<unsigned>((g.m + kTile - 1) / kTile), col_tiles, batch < 65535 ? batch : 65535);
  gemm_tiled<<<grid, dim3(kThreads, kThreads)>>>(args);
  check_launch("cuda gemm");
}

}  // namespace cuda
}  // namespace projnative
