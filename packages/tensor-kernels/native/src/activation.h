// Elementwise activations of the GEMM epilogue (and of the other kernels), written as branch-free scalar code that
// the compiler vectorises with whatever ISA the calling function is compiled for (they are force-inlined into the
// AVX2 and AVX-512 epilogues of gemm.cc). Codes match ACTIVATION_CODES in src/native/addon.ts.
//
//   none, relu, relu6, leakyrelu(α), elu (eˣ − 1 below 0), sigmoid,
//   gelu = ½x(1 + erf(x/√2)),  quickGelu = x·σ(1.702x),  silu = x·σ(x)
//
// exp: Cephes-style range reduction x = n·ln2 + r, degree-6 polynomial on |r| ≤ ln2/2 (≈ 1 ulp); erf:
// Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7).
#pragma once

#include <cstdint>
#include <cstring>

namespace projnative {

enum Activation : int {
  kActNone = 0,
  kActRelu = 1,
  kActRelu6 = 2,
  kActLeakyRelu = 3,
  kActElu = 4,
  kActSigmoid = 5,
  kActGelu = 6,
  kActQuickGelu = 7,
  kActSilu = 8,
  kActCount = 9,
};

#define PROJ_INLINE inline __attribute__((always_inline))

PROJ_INLINE float fast_exp(float x) {
  // Below −87.3 the result would be denormal: 0 (so exp(−∞) = 0); above 88.7 it overflows: +∞. NaN stays NaN.
  const float underflow = x < -87.3f ? 0.0f : 1.0f;
  const float overflow = x > 88.7f ? __builtin_inff() : 1.0f;
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // Round to nearest with the 1.5·2²³ trick (no floor call, so it vectorises without SSE4.1).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale * underflow * overflow;
}

PROJ_INLINE float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

PROJ_INLINE float fast_erf(float x) {
  const float ax = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float y = 1.0f - poly * fast_exp(-ax * ax);
  return x < 0 ? -y : y;
}

// y[i] = act(y[i] + bias[i]) for i < n, bias present or not as kBias says: a loop without control flow, so that it
// vectorises (a `bias != nullptr ? bias[i] : 0` inside the loop is a conditional load, which keeps it scalar).
template <int kAct, bool kBias>
PROJ_INLINE void activate_span(float* __restrict y, const float* __restrict bias, int n, float alpha) {
  for (int i = 0; i < n; i++) {
    float x = kBias ? y[i] + bias[i] : y[i];
    if (kAct == kActRelu) x = x > 0 ? x : 0;
    if (kAct == kActRelu6) x = x > 0 ? (x < 6 ? x : 6) : 0;
    if (kAct == kActLeakyRelu) x = x < 0 ? alpha * x : x;
    if (kAct == kActElu) x = x < 0 ? fast_exp(x) - 1.0f : x;
    if (kAct == kActSigmoid) x = fast_sigmoid(x);
    if (kAct == kActGelu) x = 0.5f * x * (1.0f + fast_erf(x * 0.70710678118654752f));
    if (kAct == kActQuickGelu) x = x * fast_sigmoid(1.702f * x);
    if (kAct == kActSilu) x = x * fast_sigmoid(x);
    y[i] = x;
  }
}

// y[i] = act(y[i] + bias[i]) for i < n (bias may be null).
template <int kAct>
PROJ_INLINE void activate_row_t(float* y, const float* bias, int n, float alpha) {
  if (bias != nullptr) {
    activate_span<kAct, true>(y, bias, n, alpha);
  } else {
    activate_span<kAct, false>(y, bias, n, alpha);
  }
}

PROJ_INLINE void activate_row(float* y, const float* bias, int n, int act, float alpha) {
  switch (act) {
    case kActRelu: return activate_row_t<kActRelu>(y, bias, n, alpha);
    case kActRelu6: return activate_row_t<kActRelu6>(y, bias, n, alpha);
    case kActLeakyRelu: return activate_row_t<kActLeakyRelu>(y, bias, n, alpha);
    case kActElu: return activate_row_t<kActElu>(y, bias, n, alpha);
    case kActSigmoid: return activate_row_t<kActSigmoid>(y, bias, n, alpha);
    case kActGelu: return activate_row_t<kActGelu>(y, bias, n, alpha);
    case kActQuickGelu: return activate_row_t<kActQuickGelu>(y, bias, n, alpha);
    case kActSilu: return activate_row_t<kActSilu>(y, bias, n, alpha);
    default:
      if (bias != nullptr) activate_row_t<kActNone>(y, bias, n, alpha);
  }
}

}  // namespace projnative

// ---- the same activations on AVX-512 registers (the GEMM epilogue applies them to a tile before storing it) ----

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define PROJ_TARGET_AVX512_ACT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))

namespace projnative {

// max, min, scalef and roundscale through their all-lanes masked forms: GCC 12's unmasked ones pass an undefined
// source register and warn (-Wmaybe-uninitialized) wherever they are inlined. The same instructions.
PROJ_TARGET_AVX512_ACT PROJ_INLINE __m512 vmax512(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
PROJ_TARGET_AVX512_ACT PROJ_INLINE __m512 vmin512(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }

// exp(x) to ~1 ulp over [−87.3, 88.7], the polynomial of fast_exp; the power of two comes from vscalefps, so the
// result flushes to 0 below the range and saturates to +∞ above it (NaN stays NaN).
PROJ_TARGET_AVX512_ACT PROJ_INLINE __m512 vexp512(__m512 x) {
  const __m512 xc = vmax512(vmin512(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-87.3f));
  const __m512 xl = _mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_mask_roundscale_ps(xl, 0xFFFF, xl, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512 y = _mm512_mask_scalef_ps(p, 0xFFFF, p, n);
  // Outside the clamped range: exactly 0 below, +∞ above; NaN inputs pass through.
  y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_LT_OQ), _mm512_setzero_ps());
  y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.7f), _CMP_GT_OQ), _mm512_set1_ps(__builtin_inff()));
  return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

PROJ_TARGET_AVX512_ACT PROJ_INLINE __m512 vsigmoid512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, vexp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// act(x) for every Activation code, as activate_span computes it.
PROJ_TARGET_AVX512_ACT PROJ_INLINE __m512 activate512(__m512 x, int act, float alpha) {
  const __m512 zero = _mm512_setzero_ps();
  switch (act) {
    case kActRelu: return vmax512(x, zero);
    case kActRelu6: return vmin512(vmax512(x, zero), _mm512_set1_ps(6.0f));
    case kActLeakyRelu: return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x, _mm512_set1_ps(alpha));
    case kActElu:
      return _mm512_mask_sub_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), vexp512(x), _mm512_set1_ps(1.0f));
    case kActSigmoid: return vsigmoid512(x);
    case kActGelu: {  // 0.5·x·(1 + erf(x/√2)), erf as fast_erf
      const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
      const __m512 az = _mm512_abs_ps(z);
      const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), az, _mm512_set1_ps(1.0f)));
      __m512 poly = _mm512_fmadd_ps(t, _mm512_set1_ps(1.061405429f), _mm512_set1_ps(-1.453152027f));
      poly = _mm512_fmadd_ps(t, poly, _mm512_set1_ps(1.421413741f));
      poly = _mm512_fmadd_ps(t, poly, _mm512_set1_ps(-0.284496736f));
      poly = _mm512_fmadd_ps(t, poly, _mm512_set1_ps(0.254829592f));
      poly = _mm512_mul_ps(t, poly);
      const __m512 e = vexp512(_mm512_mul_ps(_mm512_sub_ps(zero, az), az));
      __m512 erf = _mm512_fnmadd_ps(poly, e, _mm512_set1_ps(1.0f));
      erf = _mm512_mask_sub_ps(erf, _mm512_cmp_ps_mask(z, zero, _CMP_LT_OQ), zero, erf);
      return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
    }
    case kActQuickGelu: return _mm512_mul_ps(x, vsigmoid512(_mm512_mul_ps(x, _mm512_set1_ps(1.702f))));
    case kActSilu: return _mm512_mul_ps(x, vsigmoid512(x));
    default: return x;
  }
}

}  // namespace projnative
#endif
