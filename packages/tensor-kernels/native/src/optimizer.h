// The optimizer's update kernel (optimizer.cc): AdamW, elementwise, in place.
#pragma once

#include <cstdint>

namespace projnative {

struct AdamWStep {
  float beta1, beta2, epsilon;
  float step_size;         // η / (1 − β₁ᵗ)
  float bias_correction2;  // 1 − β₂ᵗ
  float decay;             // η·λ, or 0 for a parameter without weight decay
};

// param, m, v [n] updated in place from grad [n].
void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s);

}  // namespace projnative
