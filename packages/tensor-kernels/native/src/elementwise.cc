#include "elementwise.h"

#include <algorithm>
#include <cstring>

#include "activation.h"
#include "isa.h"
#include "thread-pool.h"

#if PROJ_X86
#include <immintrin.h>
#endif

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

PROJ_INLINE float softmax_impl(float* x, int n, float scale) {
  const float m = row_max(x, n);
  for (int j = 0; j < n; j++) x[j] = fast_exp((x[j] - m) * scale);
  const float inv = 1.0f / row_sum(x, n);
  for (int j = 0; j < n; j++) x[j] *= inv;
  return m;
}

PROJ_INLINE void activate_impl(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha) {
  for (int r = 0; r < rows; r++) activate_row(y + r * ld, bias, cols, act, alpha);
}

PROJ_INLINE void exp_impl(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = fast_exp(x[i]);
}

template <int kAct>
PROJ_INLINE void activation_grad_t(const float* __restrict x, const float* __restrict dy, float* __restrict dx,
                                   int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    float d = 1.0f;
    if (kAct == kActGelu) {
      d = 0.5f * (1.0f + fast_erf(v * 0.70710678118654752f)) + v * 0.39894228040143268f * fast_exp(-0.5f * v * v);
    }
    if (kAct == kActQuickGelu) {
      const float s = fast_sigmoid(1.702f * v);
      d = s * (1.0f + 1.702f * v * (1.0f - s));
    }
    if (kAct == kActSilu) {
      const float s = fast_sigmoid(v);
      d = s * (1.0f + v * (1.0f - s));
    }
    dx[i] = dy[i] * d;
  }
}

PROJ_INLINE void activation_grad_impl(const float* x, const float* dy, float* dx, int64_t n, int act) {
  switch (act) {
    case kActGelu: return activation_grad_t<kActGelu>(x, dy, dx, n);
    case kActQuickGelu: return activation_grad_t<kActQuickGelu>(x, dy, dx, n);
    case kActSilu: return activation_grad_t<kActSilu>(x, dy, dx, n);
    default: return activation_grad_t<kActNone>(x, dy, dx, n);
  }
}

void activation_grad_scalar(const float* x, const float* dy, float* dx, int64_t n, int act) {
  activation_grad_impl(x, dy, dx, n, act);
}

void exp_scalar(const float* x, float* y, int64_t n) { exp_impl(x, y, n); }
float softmax_scalar(float* x, int n, float scale) { return softmax_impl(x, n, scale); }
void activate_scalar(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha) {
  activate_impl(y, ld, rows, cols, bias, act, alpha);
}

#if PROJ_X86
PROJ_TARGET_AVX2 void exp_avx2(const float* x, float* y, int64_t n) { exp_impl(x, y, n); }
PROJ_TARGET_AVX2 float softmax_avx2(float* x, int n, float scale) { return softmax_impl(x, n, scale); }
PROJ_TARGET_AVX2 void activation_grad_avx2(const float* x, const float* dy, float* dx, int64_t n, int act) {
  activation_grad_impl(x, dy, dx, n, act);
}
PROJ_TARGET_AVX2 void activate_avx2(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha) {
  activate_impl(y, ld, rows, cols, bias, act, alpha);
}
PROJ_TARGET_AVX512 void exp_avx512(const float* x, float* y, int64_t n) { exp_impl(x, y, n); }
// Softmax on AVX-512 registers: the row in 16-float chunks, the last one masked (attention's rows are short, 50 or
// 77 keys, where the auto-vectorised loops spend most of their time on remainders). The maximum, then
// e = exp(scale·(x − max)) with the sum of e over 16 lanes, then e / sum.
PROJ_TARGET_AVX512 float softmax_avx512(float* x, int n, float scale) {
  const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
  auto tail = [n](int j) { return static_cast<__mmask16>(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1); };
  __m512 m = neg_inf;
  for (int j = 0; j < n; j += 16) m = vmax512(m, _mm512_mask_loadu_ps(neg_inf, tail(j), x + j));
  alignas(64) float lanes[16];  // not _mm512_reduce_*_ps: GCC 12 warns inside them (-Wmaybe-uninitialized)
  _mm512_store_ps(lanes, m);
  float top = lanes[0];
  for (float v : lanes) top = v > top ? v : top;
  const __m512 row_max = _mm512_set1_ps(top), factor = _mm512_set1_ps(scale);
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 live = tail(j);
    const __m512 e = vexp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, x + j), row_max), factor));
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(live, e));
    _mm512_mask_storeu_ps(x + j, live, e);
  }
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  const __m512 inv = _mm512_set1_ps(1.0f / total);
  for (int j = 0; j < n; j += 16) _mm512_mask_storeu_ps(x + j, tail(j), _mm512_mul_ps(_mm512_maskz_loadu_ps(tail(j), x + j), inv));
  return top;
}
PROJ_TARGET_AVX512 void activation_grad_avx512(const float* x, const float* dy, float* dx, int64_t n, int act) {
  activation_grad_impl(x, dy, dx, n, act);
}
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

float softmax_row(float* x, int n, float scale) {
  switch (current_isa()) {
#if PROJ_X86
    case Isa::kAvx512: return softmax_avx512(x, n, scale);
    case Isa::kAvx2: return softmax_avx2(x, n, scale);
#endif
    default: return softmax_scalar(x, n, scale);
  }
}

void softmax_rows(const float* x, float* y, int64_t rows, int n) {
  constexpr int64_t kFloatsPerTask = 1 << 14;
  const int64_t rows_per_task = std::max<int64_t>(1, kFloatsPerTask / std::max(n, 1));
  const int tasks = static_cast<int>((rows + rows_per_task - 1) / rows_per_task);
  auto body = [&](int task, int) {
    const int64_t end = std::min(rows, (task + 1) * rows_per_task);
    for (int64_t r = task * rows_per_task; r < end; r++) {
      float* out = y + r * n;
      if (out != x + r * n) std::copy(x + r * n, x + (r + 1) * n, out);
      softmax_row(out, n, 1.0f);  // a row of all −∞: −∞ − (−∞) = NaN throughout, as tfjs
    }
  };
  if (tasks > 1) {
    ThreadPool::instance().run(tasks, body);
  } else if (tasks == 1) {
    body(0, 0);
  }
}

void activation_grad(const float* x, const float* dy, float* dx, int64_t n, int act) {
  auto fn = activation_grad_scalar;
#if PROJ_X86
  if (current_isa() == Isa::kAvx512) fn = activation_grad_avx512;
  if (current_isa() == Isa::kAvx2) fn = activation_grad_avx2;
#endif
  constexpr int64_t kChunk = 1 << 15;
  const int chunks = static_cast<int>((n + kChunk - 1) / kChunk);
  auto body = [&](int i, int) { fn(x + i * kChunk, dy + i * kChunk, dx + i * kChunk, std::min(kChunk, n - i * kChunk), act); };
  if (chunks > 1) {
    ThreadPool::instance().run(chunks, body);
  } else if (n > 0) {
    body(0, 0);
  }
}

void column_sums(const float* x, float* out, int64_t rows, int64_t cols) {
  constexpr int64_t kRowChunk = 256;
  const int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
  if (cols == 0) return;
  auto sum_chunk = [&](int64_t chunk, float* partial) {
    const int64_t r0 = chunk * kRowChunk, r1 = std::min(rows, r0 + kRowChunk);
    std::fill(partial, partial + cols, 0.0f);
    for (int64_t r = r0; r < r1; r++) {
      const float* row = x + r * cols;
      for (int64_t c = 0; c < cols; c++) partial[c] += row[c];
    }
  };
  if (chunks <= 1) {
    sum_chunk(0, out);
    return;
  }
  ThreadPool& pool = ThreadPool::instance();
  float* partials = pool.shared_scratch(static_cast<size_t>(chunks * cols), ThreadPool::kWork);
  const bool parallel = rows * cols >= (int64_t{1} << 16);
  auto body = [&](int chunk, int) { sum_chunk(chunk, partials + chunk * cols); };
  if (parallel) {
    pool.run(static_cast<int>(chunks), body);
  } else {
    for (int64_t chunk = 0; chunk < chunks; chunk++) body(static_cast<int>(chunk), 0);
  }
  std::copy(partials, partials + cols, out);
  for (int64_t chunk = 1; chunk < chunks; chunk++) {
    const float* partial = partials + chunk * cols;
    for (int64_t c = 0; c < cols; c++) out[c] += partial[c];
  }
}

namespace {

template <int kOp, bool kSmallFirst>
void binary_rows(const float* big, const float* __restrict small, float* out, int64_t rows, int64_t ns) {
  for (int64_t r = 0; r < rows; r++) {
    const float* a = big + r * ns;
    float* o = out + r * ns;
    for (int64_t j = 0; j < ns; j++) {
      const float x = kSmallFirst ? small[j] : a[j], y = kSmallFirst ? a[j] : small[j];
      o[j] = kOp == 0 ? x + y : kOp == 1 ? x - y : x * y;
    }
  }
}

template <int kOp, bool kSmallFirst>
void binary_scalar(const float* big, float s, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float x = kSmallFirst ? s : big[i], y = kSmallFirst ? big[i] : s;
    out[i] = kOp == 0 ? x + y : kOp == 1 ? x - y : x * y;
  }
}

template <int kOp, bool kSmallFirst>
void binary_range(const float* big, const float* small, float* out, int64_t begin, int64_t end, int64_t ns) {
  if (ns == 1) return binary_scalar<kOp, kSmallFirst>(big + begin, small[0], out + begin, end - begin);
  binary_rows<kOp, kSmallFirst>(big + begin, small, out + begin, (end - begin) / ns, ns);
}

}  // namespace

void binary_op(const float* big, const float* small, float* out, int64_t n, int64_t ns, int op, bool small_first) {
  using Range = void (*)(const float*, const float*, float*, int64_t, int64_t, int64_t);
  static const Range table[3][2] = {
      {binary_range<0, false>, binary_range<0, true>},
      {binary_range<1, false>, binary_range<1, true>},
      {binary_range<2, false>, binary_range<2, true>},
  };
  const Range fn = table[op][small_first ? 1 : 0];
  // chunks of whole rows of ns (or of 2¹⁶ elements for a scalar)
  const int64_t unit = ns == 1 ? 1 : ns;
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 16) / unit) * unit;
  const int64_t chunks = (n + chunk - 1) / chunk;
  auto body = [&](int i, int) { fn(big, small, out, i * chunk, std::min(n, (i + 1) * chunk), ns); };
  if (chunks > 1) {
    ThreadPool::instance().run(static_cast<int>(chunks), body);
  } else if (n > 0) {
    body(0, 0);
  }
}

void copy_blocks(const int32_t* src, int32_t* dst, int64_t run, const int64_t n[3], const int64_t ss[3],
                 const int64_t ds[3]) {
  const size_t bytes = static_cast<size_t>(run) * sizeof(int32_t);
  for (int64_t i = 0; i < n[0]; i++) {
    for (int64_t j = 0; j < n[1]; j++) {
      const int32_t* s = src + i * ss[0] + j * ss[1];
      int32_t* d = dst + i * ds[0] + j * ds[1];
      for (int64_t l = 0; l < n[2]; l++, s += ss[2], d += ds[2]) std::memcpy(d, s, bytes);
    }
  }
}

}  // namespace projnative
