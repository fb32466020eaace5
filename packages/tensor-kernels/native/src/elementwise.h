// Row-wise elementwise kernels for the other kernels (attention's softmax, group norm's SiLU), compiled per ISA so
// that the exp polynomial of activation.h runs vectorised; dispatched on current_isa() (isa.h).
//
//   variant   how                                       where
//   scalar    baseline build (SSE2 on x86-64)           every CPU
//   avx2      the same loops under target("avx2,fma")   x86-64 with AVX2 + FMA
//   avx512    the same loops under target("avx512f…")   x86-64 with AVX-512
//   reference activation.h's scalar functions, applied one element at a time (the GEMM tests compare against it)
#pragma once

#include <cstdint>

namespace projnative {

// y[r·ld + j] = act(y[r·ld + j] + bias[j]) for r < rows, j < cols (bias may be null).
void activate_rows(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha);

// y[i] = exp(x[i]) for i < n (y may be x). Parallel over chunks for large n.
void exp_array(const float* x, float* y, int64_t n);

// x[0..n) ← softmax(x[0..n)) in place; x must hold at least one finite value.
void softmax_row(float* x, int n);

}  // namespace projnative
