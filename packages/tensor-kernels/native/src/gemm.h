// GEMM, fp32, row-major:  C = act(op(A)·op(B) [+ C] + bias)   with op(X) = X or Xᵀ, bias over the columns of C.
#pragma once

#include <cstdint>

namespace projnative {

struct Gemm {
  int m = 0, n = 0, k = 0;
  const float* a = nullptr;  // op(A) is [m, k]: a[i·lda + p], or a[p·lda + i] when trans_a
  int64_t lda = 0;
  bool trans_a = false;
  const float* b = nullptr;  // op(B) is [k, n]: b[p·ldb + j], or b[j·ldb + p] when trans_b
  int64_t ldb = 0;
  bool trans_b = false;
  float* c = nullptr;  // [m, n]: c[i·ldc + j]
  int64_t ldc = 0;
  bool accumulate = false;    // C += op(A)·op(B) instead of C = op(A)·op(B)
  const float* bias = nullptr;  // [n] or null
  int activation = 0;           // an Activation code (activation.h)
  float alpha = 0;              // leakyrelu's slope
  int packed_b = 0;             // an id from gemm_pack_b holding op(B) already packed (0: pack B from g.b)
};

// Packs op(B) [k, n] (B at b with row stride ldb, stored [n, k] when trans_b) once, in the panels every product
// with these sizes reads, for products that reuse the same B (a layer's weight): a Gemm with `packed_b` set to the
// returned id skips packing B (g.b is then not read). The packing belongs to the ISA in use: after a change of ISA,
// or when the sizes differ, gemm ignores it and packs g.b as usual. Released with gemm_release_packed_b.
int gemm_pack_b(const float* b, int k, int n, int64_t ldb, bool trans_b);
void gemm_release_packed_b(int id);
// Floats held by packed B's (for the tests' leak checks).
int64_t gemm_packed_b_floats();

// `batch` products; operand b of product i starts `stride_x · i` floats after g.x (a stride of 0 broadcasts).
// Uses the thread pool when the work is large enough; results do not depend on the thread count.
void gemm_batched(const Gemm& g, int batch, int64_t stride_a, int64_t stride_b, int64_t stride_c);

inline void gemm(const Gemm& g) { gemm_batched(g, 1, 0, 0, 0); }

// The same product on one thread without the thread pool (for kernels that parallelise over something else);
// `thread` picks the pool's scratch buffer.
void gemm_serial(const Gemm& g, int thread);

// Plain triple loop, accumulating in double: the reference the tests and the benchmark check against.
void gemm_reference(const Gemm& g);

// Measured single-thread fp32 FMA rate of the current ISA in GFLOP/s (a register-only loop of independent FMAs).
double fma_peak_gflops(double seconds);

}  // namespace projnative
