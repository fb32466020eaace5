// The register tile shared by the GEMM micro-kernels (gemm.cc) and the indirect-convolution kernels
// (conv-indirect.cc): MR rows × two vectors of accumulators, updated by rank-1 steps (a column of MR values of A,
// broadcast, times one row of B), then stored to C (added to C's values when accumulating). The kernels differ only
// in where a step's A values live, which `a(i)` returns (a packed panel, or rows of x read in place).
#pragma once

#include <cstdint>

#include "activation.h"
#include "isa.h"

#if PROJ_X86
#include <immintrin.h>

namespace projnative {

template <int MR>
PROJ_TARGET_AVX512 PROJ_INLINE void tile_zero(__m512 (&acc)[MR][2]) {
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
}

// acc[i] += a(i) · b[0 : 32] for i < MR; a(i) returns a pointer to A's value for row i.
template <int MR, class A>
PROJ_TARGET_AVX512 PROJ_INLINE void tile_step(__m512 (&acc)[MR][2], const A& a, const float* b) {
  const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) {
    const __m512 ai = _mm512_set1_ps(*a(i));
    acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
    acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
  }
}

template <int MR>
PROJ_TARGET_AVX512 PROJ_INLINE void tile_store(__m512 (&acc)[MR][2], float* c, int64_t ldc, bool accumulate) {
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(row));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(row + 16));
    }
    _mm512_storeu_ps(row, acc[i][0]);
    _mm512_storeu_ps(row + 16, acc[i][1]);
  }
}

template <int MR>
PROJ_TARGET_AVX2 PROJ_INLINE void tile_zero(__m256 (&acc)[MR][2]) {
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
}

// acc[i] += a(i) · b[0 : 16] for i < MR.
template <int MR, class A>
PROJ_TARGET_AVX2 PROJ_INLINE void tile_step(__m256 (&acc)[MR][2], const A& a, const float* b) {
  const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) {
    const __m256 ai = _mm256_broadcast_ss(a(i));
    acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
    acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
  }
}

template <int MR>
PROJ_TARGET_AVX2 PROJ_INLINE void tile_store(__m256 (&acc)[MR][2], float* c, int64_t ldc, bool accumulate) {
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(row));
      acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(row + 8));
    }
    _mm256_storeu_ps(row, acc[i][0]);
    _mm256_storeu_ps(row + 8, acc[i][1]);
  }
}

}  // namespace projnative
#endif

namespace projnative {

// The portable tile: MR × 16 floats.
template <int MR>
struct ScalarTile {
  float acc[MR][16] = {};

  template <class A>
  void step(const A& a, const float* b) {
    for (int i = 0; i < MR; i++) {
      const float ai = *a(i);
      for (int j = 0; j < 16; j++) acc[i][j] += ai * b[j];
    }
  }

  void store(float* c, int64_t ldc, bool accumulate) const {
    for (int i = 0; i < MR; i++) {
      for (int j = 0; j < 16; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
    }
  }
};

}  // namespace projnative
