// Scaled dot-product attention (kernels.h): one task per (batch, head), each on one thread with its GEMMs
//
//   forward   S [Tq, Tk] = q kᵀ (transposed-B GEMM),  S = scale·S + mask, −∞ above the diagonal when causal,
//             P = softmax(S) row by row (a row of all −∞ gives zeros),  out [Tq, D] = P v.
//   backward  P recomputed as above (nothing saved by the forward), then with dO the incoming gradient
//             dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP − δ),  δᵢ = Σⱼ Pᵢⱼ dPᵢⱼ (= dOᵢ·Oᵢ, so O is not needed),
//             dQ = scale · dS K,  dK = scale · dSᵀ Q  (scale folded into dS once).
//
// S / P (and dS) live in the thread's work scratch (Tq·Tk floats each); the softmax is elementwise.cc's,
// vectorised per ISA. Every task writes only its own head's outputs, so results are the same for any thread count.
// Reference: attentionReference in src/ops/attention.ts and the composed gradient in src/ops/attention-grad.ts.
#include <algorithm>
#include <cmath>
#include <limits>

#include "elementwise.h"
#include "gemm.h"
#include "kernels.h"
#include "thread-pool.h"

namespace projnative {

namespace {

// p [Tq, Tk] = softmax(scale · q kᵀ + mask (+ causal −∞)) for head `bh`, whose q and k rows start at `qh` and `kh`,
// `ldq` and `ldk` floats apart; rows with every score −∞ are zeros, and so is everything above the diagonal when
// causal.
void head_probabilities(const AttentionShape& s, int bh, const float* qh, int64_t ldq, const float* kh, int64_t ldk,
                        const float* mask, float* p, int thread) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int tq = s.queries, tk = s.keys, d = s.head_size;
  const int b = bh / s.heads, h = bh % s.heads;
  Gemm g;
  g.m = tq;
  g.n = tk;
  g.k = d;
  g.a = qh;
  g.lda = ldq;
  g.b = kh;
  g.ldb = ldk;
  g.trans_b = true;
  g.c = p;
  g.ldc = tk;
  gemm_serial(g, thread);
  const float* mask_head = mask == nullptr ? nullptr : mask + b * s.mask_strides[0] + h * s.mask_strides[1];
  for (int i = 0; i < tq; i++) {
    float* row = p + static_cast<int64_t>(i) * tk;
    const int live = s.causal ? std::min(tk, i + 1) : tk;
    // Without a mask the softmax applies the scale itself (exp(scale · (x − max)), one pass less); with one, or a
    // scale that is not positive, the scores are scaled here first.
    float scale = s.scale;
    if (mask_head != nullptr) {
      const float* m = mask_head + i * s.mask_strides[2];
      for (int j = 0; j < live; j++) row[j] = row[j] * s.scale + m[j * s.mask_strides[3]];
      scale = 1.0f;
    } else if (!(scale > 0.0f)) {
      for (int j = 0; j < live; j++) row[j] *= scale;
      scale = 1.0f;
    }
    if (live == 0 || softmax_row(row, live, scale) == kNegInf) {  // every key dropped: zeros
      std::fill(row, row + tk, 0.0f);
      continue;
    }
    std::fill(row + live, row + tk, 0.0f);
  }
}

// C [m, n] = op(A) · op(B) on one thread (`thread` picks the GEMM packing scratch).
void product(int m, int n, int k, const float* a, int64_t lda, bool trans_a, const float* b, int64_t ldb, bool trans_b,
             float* c, int64_t ldc, int thread) {
  Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.trans_a = trans_a;
  g.b = b;
  g.ldb = ldb;
  g.trans_b = trans_b;
  g.c = c;
  g.ldc = ldc;
  gemm_serial(g, thread);
}

// Runs head(bh, thread) for every (batch, head): on the pool when there are several heads and enough work, after
// growing each thread's work scratch to `floats` (only the caller may grow it).
template <class F>
void for_each_head(const AttentionShape& s, double flops, std::size_t floats, const F& head) {
  ThreadPool& pool = ThreadPool::instance();
  const int heads = s.batch * s.heads;
  const bool parallel = pool.threads() > 1 && heads > 1 && flops >= 2e6;
  const int threads = parallel ? pool.threads() : 1;
  for (int t = 0; t < threads; t++) pool.scratch(t, floats, ThreadPool::kWork);
  if (parallel) {
    pool.run(heads, head);
  } else {
    for (int bh = 0; bh < heads; bh++) head(bh, 0);
  }
}

// The forward for q/k/v/out at the given layouts (mask: as AttentionShape's strides, or null).
void forward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
             const AttentionLayout& ql, const AttentionLayout& kvl, float* out, const AttentionLayout& ol) {
  const int tq = s.queries, tk = s.keys, d = s.head_size;
  const size_t score_floats = static_cast<size_t>(tq) * tk;
  const double flops = 4.0 * tq * tk * d * s.batch * s.heads;
  ThreadPool& pool = ThreadPool::instance();
  for_each_head(s, flops, score_floats, [&](int bh, int thread) {
    const int64_t b = bh / s.heads, h = bh % s.heads;
    float* p = pool.scratch(thread, score_floats, ThreadPool::kWork);
    const int64_t kv = b * kvl.batch + h * kvl.head;
    head_probabilities(s, bh, q + b * ql.batch + h * ql.head, ql.row, k + kv, kvl.row, mask, p, thread);
    product(tq, d, tk, p, tk, false, v + kv, kvl.row, false, out + b * ol.batch + h * ol.head, ol.row, thread);
  });
}

// [B, H, T, D] with D contiguous.
AttentionLayout dense_layout(const AttentionShape& s, int tokens) {
  const int64_t d = s.head_size;
  return {s.heads * tokens * d, tokens * d, d};
}

}  // namespace

void attention_forward_strided(const AttentionShape& s, const float* q, const float* k, const float* v,
                               const AttentionLayout& q_layout, const AttentionLayout& kv_layout, float* out,
                               const AttentionLayout& out_layout) {
  forward(s, q, k, v, nullptr, q_layout, kv_layout, out, out_layout);
}

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
                       float* out) {
  const AttentionLayout queries = dense_layout(s, s.queries), keys = dense_layout(s, s.keys);
  forward(s, q, k, v, mask, queries, keys, out, queries);
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
                        const float* dout, float* dq, float* dk, float* dv) {
  const int tq = s.queries, tk = s.keys, d = s.head_size;
  const size_t score_floats = static_cast<size_t>(tq) * tk;
  const double flops = 10.0 * tq * tk * d * s.batch * s.heads;  // five products of Tq·Tk·D
  ThreadPool& pool = ThreadPool::instance();
  for_each_head(s, flops, 2 * score_floats, [&](int bh, int thread) {
    float* p = pool.scratch(thread, 2 * score_floats, ThreadPool::kWork);
    float* ds = p + score_floats;
    const int64_t qo = static_cast<int64_t>(bh) * tq * d;  // offset of this head in q, dout, dq
    const int64_t ko = static_cast<int64_t>(bh) * tk * d;  // in k, v, dk, dv
    head_probabilities(s, bh, q + qo, d, k + ko, d, mask, p, thread);
    product(tk, d, tq, p, tk, true, dout + qo, d, false, dv + ko, d, thread);   // dV = Pᵀ dO
    product(tq, tk, d, dout + qo, d, false, v + ko, d, true, ds, tk, thread);   // dP = dO Vᵀ
    for (int i = 0; i < tq; i++) {  // dS = scale · P ∘ (dP − δ)
      const float* pr = p + static_cast<int64_t>(i) * tk;
      float* dr = ds + static_cast<int64_t>(i) * tk;
      float delta = 0;
      for (int j = 0; j < tk; j++) delta += pr[j] * dr[j];
      for (int j = 0; j < tk; j++) dr[j] = s.scale * pr[j] * (dr[j] - delta);
    }
    product(tq, d, tk, ds, tk, false, k + ko, d, false, dq + qo, d, thread);    // dQ = dS K
    product(tk, d, tq, ds, tk, true, q + qo, d, false, dk + ko, d, thread);     // dK = dSᵀ Q
  });
}

}  // namespace projnative
