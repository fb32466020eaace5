// Scaled dot-product attention, forward (kernels.h): one task per (batch, head), each on one thread with two GEMMs
//
//   S [Tq, Tk] = q kᵀ (transposed-B GEMM),  S = scale·S + mask, −∞ above the diagonal when causal,
//   P = softmax(S) row by row (a row of all −∞ gives zeros),  out [Tq, D] = P v.
//
// S lives in the thread's work scratch (Tq·Tk floats); the softmax is elementwise.cc's, vectorised per ISA. Reference: attentionReference in src/ops/attention.ts.
#include <algorithm>
#include <cmath>
#include <limits>

#include "elementwise.h"
#include "gemm.h"
#include "kernels.h"
#include "thread-pool.h"

namespace projnative {

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
                       float* out) {
  ThreadPool& pool = ThreadPool::instance();
  const int tq = s.queries, tk = s.keys, d = s.head_size;
  const size_t score_floats = static_cast<size_t>(tq) * tk;
  const int heads = s.batch * s.heads;
  const double flops = 4.0 * tq * tk * d * heads;
  const bool parallel = pool.threads() > 1 && heads > 1 && flops >= 2e6;
  if (parallel) {
    for (int t = 0; t < pool.threads(); t++) pool.scratch(t, score_floats, ThreadPool::kWork);
  } else {
    pool.scratch(0, score_floats, ThreadPool::kWork);
  }
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  auto head = [&](int bh, int thread) {
    float* scores = pool.scratch(thread, score_floats, ThreadPool::kWork);
    const int b = bh / s.heads, h = bh % s.heads;
    Gemm g;
    g.m = tq;
    g.n = tk;
    g.k = d;
    g.a = q + static_cast<int64_t>(bh) * tq * d;
    g.lda = d;
    g.b = k + static_cast<int64_t>(bh) * tk * d;
    g.ldb = d;
    g.trans_b = true;
    g.c = scores;
    g.ldc = tk;
    gemm_serial(g, thread);
    const float* mask_head =
        mask == nullptr ? nullptr : mask + b * s.mask_strides[0] + h * s.mask_strides[1];
    for (int i = 0; i < tq; i++) {
      float* row = scores + static_cast<int64_t>(i) * tk;
      const int live = s.causal ? std::min(tk, i + 1) : tk;
      if (mask_head == nullptr) {
        for (int j = 0; j < live; j++) row[j] *= s.scale;
      } else {
        const float* m = mask_head + i * s.mask_strides[2];
        for (int j = 0; j < live; j++) row[j] = row[j] * s.scale + m[j * s.mask_strides[3]];
      }
      float row_max = kNegInf;
      for (int j = 0; j < live; j++) row_max = std::max(row_max, row[j]);
      if (row_max == kNegInf) {  // every key dropped: zeros
        std::fill(row, row + tk, 0.0f);
        continue;
      }
      softmax_row(row, live);
      std::fill(row + live, row + tk, 0.0f);
    }
    Gemm o;
    o.m = tq;
    o.n = d;
    o.k = tk;
    o.a = scores;
    o.lda = tk;
    o.b = v + static_cast<int64_t>(bh) * tk * d;
    o.ldb = d;
    o.c = out + static_cast<int64_t>(bh) * tq * d;
    o.ldc = d;
    gemm_serial(o, thread);
  };
  if (parallel) {
    pool.run(heads, head);
  } else {
    for (int bh = 0; bh < heads; bh++) head(bh, 0);
  }
}

}  // namespace projnative
