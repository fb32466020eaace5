// AdamW update, elementwise and in place (optimizer.h): the step of src/training/adamw.ts (PyTorch's AdamW,
// Loshchilov & Hutter 2019, Algorithm 2) on one parameter, written in the same float32 operation order as its
// tfjs ops so that results agree to the last ulp or two:
//
//   θ ← θ·(1 − η·λ)   m ← β₁·m + (1 − β₁)·g   v ← β₂·v + (1 − β₂)·g²   θ ← θ − (m·η/(1 − β₁ᵗ)) / (√(v/(1 − β₂ᵗ)) + ε)
//
//   variant   how                                                    where
//   baseline  one loop, auto-vectorised (memory-bound: 4 streams)    every CPU
//   reference AdamW.step with tfjs ops on the cpu backend (the tests compare)
//
// Parallel over chunks of the parameter on the thread pool; each element is written by one task.
#include "optimizer.h"

#include <algorithm>
#include <cmath>

#include "thread-pool.h"

namespace projnative {

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s) {
  const float beta1 = s.beta1, beta2 = s.beta2, one_minus_beta1 = 1.0f - s.beta1, one_minus_beta2 = 1.0f - s.beta2;
  const float keep = 1.0f - s.decay, step = s.step_size, bias_correction2 = s.bias_correction2, epsilon = s.epsilon;
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      const float g = grad[i];
      const float mi = m[i] * beta1 + g * one_minus_beta1;
      const float vi = v[i] * beta2 + (g * g) * one_minus_beta2;
      const float denominator = std::sqrt(vi / bias_correction2) + epsilon;
      const float decayed = s.decay == 0.0f ? param[i] : param[i] * keep;
      m[i] = mi;
      v[i] = vi;
      param[i] = decayed - (mi * step) / denominator;
    }
  };
  constexpr int64_t kChunk = 1 << 15;
  const int chunks = static_cast<int>((n + kChunk - 1) / kChunk);
  if (chunks > 1) {
    ThreadPool::instance().run(chunks, [&](int i, int) { body(i * kChunk, std::min(n, (i + 1) * kChunk)); });
  } else {
    body(0, n);
  }
}

}  // namespace projnative
