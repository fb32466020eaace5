// Row-wise elementwise kernels for the other kernels (attention's softmax, group norm's SiLU), compiled per ISA so
// that the exp polynomial of activation.h runs vectorised; dispatched on current_isa() (isa.h).
//
//   variant   how                                       where
//   scalar    baseline build (SSE2 on x86-64)           every CPU
//   avx2      the same loops under target("avx2,fma")   x86-64 with AVX2 + FMA
//   avx512    the same loops under target("avx512f…")   x86-64 with AVX-512
// Kernels: activation epilogue rows, exp, softmax (one row, or rows in parallel), activation gradients, column sums.
//   reference activation.h's scalar functions, applied one element at a time (the GEMM tests compare against it)
#pragma once

#include <cstdint>

namespace projnative {

// y[r·ld + j] = act(y[r·ld + j] + bias[j]) for r < rows, j < cols (bias may be null).
void activate_rows(float* y, int64_t ld, int rows, int cols, const float* bias, int act, float alpha);

// y[i] = exp(x[i]) for i < n (y may be x). Parallel over chunks for large n.
void exp_array(const float* x, float* y, int64_t n);

// x[0..n) ← softmax(scale · x[0..n)) in place, computed as exp(scale · (x − max x)) / Σ (scale > 0); returns max x.
// x must hold at least one finite value (a row of all −∞ becomes NaN, and max x is −∞).
float softmax_row(float* x, int n, float scale);

// y [rows, n] = softmax of each row of x (y may be x); a row whose maximum is −∞ gives NaN, as tfjs computes it.
// Parallel over blocks of rows.
void softmax_rows(const float* x, float* y, int64_t rows, int n);

// dx[i] = dy[i] · act′(x[i]) for act in {gelu (erf form), quickGelu, silu}; other codes give dx = dy. The
// derivatives:  gelu′ = Φ(x) + x·φ(x),  quickGelu′ = σ(1.702x)·(1 + 1.702x·(1 − σ(1.702x))),
// silu′ = σ(x)·(1 + x·(1 − σ(x))). Reference: the cpu backend's tf.grad of the same formulas (the tests compare).
void activation_grad(const float* x, const float* dy, float* dx, int64_t n, int act);

// out[c] = Σ_r x[r·cols + c] for c < cols (a sum over the leading axes, e.g. a bias gradient). Rows are summed in
// fixed chunks of 256 (float32, in order), then the chunks' partial sums in order: the same result for any thread
// count. Parallel over chunks.
void column_sums(const float* x, float* out, int64_t rows, int64_t cols);

// out[r·ns + j] = big[r·ns + j] ∘ small[j] for r < n / ns (small broadcast over the leading axes of big; ns = n for
// equal shapes, 1 for a scalar), or small[j] ∘ big[r·ns + j] when small_first. ∘: 0 add, 1 subtract, 2 multiply.
// out may be big. Parallel over chunks for large n.
void binary_op(const float* big, const float* small, float* out, int64_t n, int64_t ns, int op, bool small_first);

// Strided block copy of 4-byte words (SplitV, Concat and Transpose move data with it): for i < n[0], j < n[1],
// l < n[2], the `run` words at src + i·ss[0] + j·ss[1] + l·ss[2] go to dst + i·ds[0] + j·ds[1] + l·ds[2]. The
// source and destination must not overlap. One thread (it is bound by memory, and the runs are short).
void copy_blocks(const int32_t* src, int32_t* dst, int64_t run, const int64_t n[3], const int64_t ss[3],
                 const int64_t ds[3]);

}  // namespace projnative
