// Softmax rows and scaled dot-product attention forward, CUDA build (the CPU build is attention.cc; its softmax
// is elementwise.cc's).
//
//   variant   how                                                     where
//   softmax   one block of 128 threads per row: max, Σ exp, scale     every GPU the addon targets
//   attention S = q kᵀ and out = P v as two batched tiled GEMMs        every GPU the addon targets
//             (gemm.cu) over batch·heads; between them one block per
//             row of S applies scale, mask and causal −∞ and the softmax
//   reference attention_forward in attention.cc; the CUDA tests compare against it
//
// S [B·H, Tq, Tk] lives in device scratch (cuda-addon.cc's workspace), so memory grows as Tq·Tk: the simple
// design first; a flash-style kernel that never stores S is the next step.
#include <cuda_runtime.h>

#include "activation-cuda.cuh"
#include "cuda.h"

namespace projnative {
namespace cuda {
namespace {

constexpr int kThreads = 128;

// y = softmax(x) over the first `live` of `n` values of the row, zeros after; a row whose maximum is −∞ (every
// key masked) gives `empty` everywhere: 0 in attention, NaN in the plain softmax (as tfjs computes it).
// Each thread reads and writes only its own indices j ≡ threadIdx.x (mod blockDim.x), so y may be x.
__device__ void softmax_row(const float* x, float* y, int live, int n, float empty) {
  float row_max = -INFINITY;
  for (int j = threadIdx.x; j < live; j += blockDim.x) row_max = fmaxf(row_max, x[j]);
  row_max = block_max(row_max);
  if (row_max == -INFINITY) {
    for (int j = threadIdx.x; j < n; j += blockDim.x) y[j] = empty;
    return;
  }
  float sum = 0.0f;
  for (int j = threadIdx.x; j < live; j += blockDim.x) {
    const float e = expf(x[j] - row_max);
    y[j] = e;
    sum += e;
  }
  const float inverse = 1.0f / block_sum(sum);
  for (int j = threadIdx.x; j < n; j += blockDim.x) y[j] = j < live ? y[j] * inverse : 0.0f;
}

__global__ void softmax_rows_kernel(const float* x, float* y, int n) {
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * n;
  softmax_row(x + offset, y + offset, n, n, NAN);
}

// Row i of head bh of S: S = scale·S + mask, keys after i dropped when causal, then the softmax in place.
__global__ void attention_softmax(float* scores, const float* mask, AttentionShape s) {
  const int64_t row = blockIdx.x;  // bh·Tq + i
  const int bh = static_cast<int>(row / s.queries), i = static_cast<int>(row % s.queries);
  const int b = bh / s.heads, h = bh % s.heads;
  float* r = scores + row * s.keys;
  const int live = s.causal ? min(s.keys, i + 1) : s.keys;
  const float* m = mask == nullptr ? nullptr
                                   : mask + b * s.mask_strides[0] + h * s.mask_strides[1] + i * s.mask_strides[2];
  for (int j = threadIdx.x; j < live; j += blockDim.x) r[j] = r[j] * s.scale + (m != nullptr ? m[j * s.mask_strides[3]] : 0.0f);
  softmax_row(r, r, live, s.keys, 0.0f);
}

}  // namespace

void softmax_rows(const float* x, float* y, int64_t rows, int n) {
  if (rows == 0 || n == 0) return;
  softmax_rows_kernel<<<static_cast<unsigned>(rows), kThreads>>>(x, y, n);
  check_launch("cuda softmax");
}

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
                       float* out, float* scores) {
  const int heads = s.batch * s.heads;
  const int64_t tq = s.queries, tk = s.keys, d = s.head_size;
  Gemm g;  // S = q kᵀ per head
  g.m = s.queries;
  g.n = s.keys;
  g.k = s.head_size;
  g.a = q;
  g.lda = d;
  g.b = k;
  g.ldb = d;
  g.trans_b = true;
  g.c = scores;
  g.ldc = tk;
  cuda::gemm_batched(g, heads, tq * d, tk * d, tq * tk);
  attention_softmax<<<static_cast<unsigned>(heads * tq), kThreads>>>(scores, mask, s);
  check_launch("cuda attention softmax");
  Gemm o;  // out = P v per head
  o.m = s.queries;
  o.n = s.head_size;
  o.k = s.keys;
  o.a = scores;
  o.lda = tk;
  o.b = v;
  o.ldb = d;
  o.c = out;
  o.ldc = d;
  cuda::gemm_batched(o, heads, tq * tk, tk * d, tq * d);
}

}  // namespace cuda
}  // namespace projnative
