// Device versions of activation.h's epilogue activations (same codes, same formulas; CUDA's expf / erff in place
// of the CPU polynomials, so results agree to a few ulp): used by gemm.cu and norm.cu.
#pragma once

#include "activation.h"

namespace projnative {
namespace cuda {

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ __forceinline__ float activate(float x, int act, float alpha) {
  switch (act) {
    case kActRelu: return x > 0.0f ? x : 0.0f;
    case kActRelu6: return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
    case kActLeakyRelu: return x < 0.0f ? alpha * x : x;
    case kActElu: return x < 0.0f ? expf(x) - 1.0f : x;
    case kActSigmoid: return sigmoid(x);
    case kActGelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case kActQuickGelu: return x * sigmoid(1.702f * x);
    case kActSilu: return x * sigmoid(x);
    default: return x;
  }
}

// Sum of `v` over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.0f;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Maximum of `v` over the block, as block_sum.
__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : -INFINITY;
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

}  // namespace cuda
}  // namespace projnative
