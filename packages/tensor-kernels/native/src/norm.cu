// Layer norm and NHWC group norm (+ SiLU) forward, CUDA build (the CPU build and its notes are in norm.cc).
//
//   variant   how                                                     where
//   row       layer norm: one block of 256 threads per row            every GPU the addon targets
//   group     group norm: one block per (sample, group), SiLU fused   every GPU the addon targets
//   reference layer_norm / group_norm in norm.cc (double statistics); the CUDA tests compare against them
//
// Statistics are two-pass (mean, then the centred sum of squares) in float with tree reductions, so they stay
// accurate without double arithmetic, which consumer GPUs run slowly.
#include <cuda_runtime.h>

#include "activation-cuda.cuh"
#include "cuda.h"

namespace projnative {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void layer_norm_rows(const float* x, const float* gamma, const float* beta, float* out, int channels,
                                float epsilon) {
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * channels;
  float* yr = out + static_cast<int64_t>(blockIdx.x) * channels;
  float sum = 0.0f;
  for (int c = threadIdx.x; c < channels; c += blockDim.x) sum += xr[c];
  const float mean = block_sum(sum) / channels;
  float sq = 0.0f;
  for (int c = threadIdx.x; c < channels; c += blockDim.x) {
    const float d = xr[c] - mean;
    sq += d * d;
  }
  const float rstd = 1.0f / sqrtf(block_sum(sq) / channels + epsilon);
  for (int c = threadIdx.x; c < channels; c += blockDim.x) yr[c] = (xr[c] - mean) * rstd * gamma[c] + beta[c];
}

// x [samples, pixels, channels]; block (n·groups + g) covers pixels × channels/groups values.
__global__ void group_norm_groups(const float* x, const float* gamma, const float* beta, float* out, int64_t pixels,
                                  int channels, int groups, float epsilon, bool silu) {
  const int n = blockIdx.x / groups, g = blockIdx.x % groups;
  const int per_group = channels / groups;
  const int64_t count = pixels * per_group;
  const int64_t base = static_cast<int64_t>(n) * pixels * channels + static_cast<int64_t>(g) * per_group;
  auto index = [&](int64_t e) { return base + (e / per_group) * channels + e % per_group; };
  float sum = 0.0f;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) sum += x[index(e)];
  const float mean = block_sum(sum) / static_cast<float>(count);
  float sq = 0.0f;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const float d = x[index(e)] - mean;
    sq += d * d;
  }
  const float rstd = 1.0f / sqrtf(block_sum(sq) / static_cast<float>(count) + epsilon);
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int c = g * per_group + static_cast<int>(e % per_group);
    const int64_t at = index(e);
    float y = (x[at] - mean) * (gamma[c] * rstd) + beta[c];
    if (silu) y = y * sigmoid(y);
    out[at] = y;
  }
}

}  // namespace

void layer_norm(const float* x, const float* gamma, const float* beta, float* out, int64_t rows, int channels,
                float epsilon) {
  if (rows == 0) return;
  layer_norm_rows<<<static_cast<unsigned>(rows), kThreads>>>(x, gamma, beta, out, channels, epsilon);
  check_launch("cuda layerNorm");
}

void group_norm(const float* x, const float* gamma, const float* beta, float* out, int samples, int64_t pixels,
                int channels, int groups, float epsilon, bool silu) {
  if (samples == 0 || pixels == 0) return;
  group_norm_groups<<<static_cast<unsigned>(samples * groups), kThreads>>>(x, gamma, beta, out, pixels, channels,
                                                                            groups, epsilon, silu);
  check_launch("cuda groupNorm");
}

}  // namespace cuda
}  // namespace projnative
