#include "elementwise.h"

#include <algorithm>

#include "activation.h"
#include "isa.h"
#include "thread-pool.h"

namespace projnative {

namespace {

// Sum and max with 16 partial results, so that the compiler vectorises them without reassociating (the order is
// fixed, so results are deterministic for a given ISA).
PROJ_INLINE float row_max(const float* x, int n) {
  float part[16];
  for (int t = 0; t < 16; t++) part[t] = x[0];
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    for (int t = 0; t < 16; t++) part[t] = part[t] > x[j + t] ? part[t] : x[j + t];
  }
  float m = part[0];
  for (int t = 1; t < 16; t++) m = m > part[t] ? m : part[t];
  for (; j < n; j++) m = m > x[j] ? m : x[j];
  return m;
}

PROJ_INLINE float row_sum(const float* x, int n) {
  float part[16] = {};
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    for (int t = 0; t < 16; t++) part[t] += x[j + t];
  }
  float s = 0;
  for (int t = 0; t < 16; t++) s += part[t];
  for (; j < n; j++) s += x[j];
  return s;
}

PROJ_INLINE void softmax_impl(float* x, int n) {
  const float m = row_max(x, n);
  for (int j = 0; j < n; j++) x[j] = fast_exp(x[j] - m);
  const float inv = 1.0f / row_sum(x, n);
  for (int j = 0; j < n; j++) x[j] *= inv;
}

PROJ_INLINE void activate_impl(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha) {
  for (int r = 0; r < rows; r++) activate_row(y + r * ld, bias, cols, act, alpha);
}

PROJ_INLINE void exp_impl(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = fast_exp(x[i]);
}

void exp_scalar(const float* x, float* y, int64_t n) { exp_impl(x, y, n); }
void softmax_scalar(float* x, int n) { softmax_impl(x, n); }
void activate_scalar(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha) {
  activate_impl(y, ld, rows, cols, bias, act, alpha);
}

#if PROJ_X86
PROJ_TARGET_AVX2 void exp_avx2(const float* x, float* y, int64_t n) { exp_impl(x, y, n); }
PROJ_TARGET_AVX2 void softmax_avx2(float* x, int n) { softmax_impl(x, n); }
PROJ_TARGET_AVX2 void activate_avx2(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha) {
  activate_impl(y, ld, rows, cols, bias, act, alpha);
}
PROJ_TARGET_AVX512 void exp_avx512(const float* x, float* y, int64_t n) { exp_impl(x, y, n); }
PROJ_TARGET_AVX512 void softmax_avx512(float* x, int n) { softmax_impl(x, n); }
PROJ_TARGET_AVX512 void activate_avx512(float* y, int64_t ld, int rows, int cols, const float* bias, int act,
                                        float alpha) {
  activate_impl(y, ld, rows, cols, bias, act, alpha);
}
#endif

}  // namespace

void activate_rows(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha) {
  switch (current_isa()) {
#if PROJ_X86
    case Isa::kAvx512: return activate_avx512(y, ld, rows, cols, bias, act, alpha);
    case Isa::kAvx2: return activate_avx2(y, ld, rows, cols, bias, act, alpha);
#endif
    default: return activate_scalar(y, ld, rows, cols, bias, act, alpha);
  }
}

void exp_array(const float* x, float* y, int64_t n) {
  auto fn = exp_scalar;
#if PROJ_X86
  if (current_isa() == Isa::kAvx512) fn = exp_avx512;
  if (current_isa() == Isa::kAvx2) fn = exp_avx2;
#endif
  constexpr int64_t kChunk = 1 << 15;
  const int chunks = static_cast<int>((n + kChunk - 1) / kChunk);
  auto body = [&](int i, int) { fn(x + i * kChunk, y + i * kChunk, std::min(kChunk, n - i * kChunk)); };
  if (chunks > 1) {
    ThreadPool::instance().run(chunks, body);
  } else if (n > 0) {
    body(0, 0);
  }
}

void softmax_row(float* x, int n) {
  switch (current_isa()) {
#if PROJ_X86
    case Isa::kAvx512: return softmax_avx512(x, n);
    case Isa::kAvx2: return softmax_avx2(x, n);
#endif
    default: return softmax_scalar(x, n);
  }
}

}  // namespace projnative
