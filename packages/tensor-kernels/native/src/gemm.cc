// GEMM (gemm.h): cache-blocked, packed, with an MR×NR register-tile micro-kernel per ISA.
//
//   variant   micro-kernel tile                       where
//   scalar    4 × 16, plain loops (auto-vectorised)    every CPU (the portable path)
//   avx2      6 × 16, 12 ymm accumulators, FMA         x86-64 with AVX2 + FMA
//   avx512    14 × 32, 28 zmm accumulators, FMA        x86-64 with AVX-512 (F, VL, DQ, BW); bias and activation
//                                                       applied in registers
//   reference triple loop in double                    gemm_reference, for tests
//
// Blocking (Goto/BLIS): for each NC-column block of B and KC-deep slice, B is packed into NR-wide k-major panels
// (KC × NR: one panel is reused by every row tile of the block, from L1/L2; the first tile prefetches the next
// panel into L2), then each MC-row block of A is packed into MR-tall k-major panels and multiplied panel by panel.
// Packing reads A and B through their transposes, so all four transpose variants run the same micro-kernel at the
// same speed. A B stored [K, N] is packed row by row (each row of the slice read once, front to back, and spread over
// the panels), so its reads stream even when N is wide: reading it panel by panel, or in place, walks KC rows at a
// stride of N floats per panel, which defeats the prefetchers and maps every row to the same few L1 sets (see
// native/README.md, "small-M GEMM"). Edge panels are zero-padded; an edge tile is computed into a local buffer and
// copied out. The epilogue (bias, activation) runs on each tile after its last K
// slice: in registers before the store (AVX-512), or on the stored tile while it is in L1.
//
// Threads: the pool packs B cooperatively, then tasks of (MC rows × a range of NR panels) run in parallel; every
// element of C is computed by exactly one task in a fixed order of K, so results are identical for any thread count.
// Batched products run one product per task when each is small.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "activation.h"
#include "isa.h"
#include "register-tile.h"
#include "thread-pool.h"

#if PROJ_X86
#include <immintrin.h>
#endif

namespace projnative {

namespace {

// K slice. Deep slices mean few passes over C: each slice after the first reloads and restores every C tile, whose
// rows (a wide C's rows are a multiple of 4 KiB apart) share a few L1 sets. KC = 1024 against 256 on Zen 4 (one
// thread, GFLOP/s, best of runs): ViT-B/32's linear layers at 400 rows 94–104 → 104–106, n = 1024 100 → 106; a KC × NR
// panel of B (128 KiB at NR = 32) then streams from L2, which the micro-kernel sustains (see native/README.md).
constexpr int kKc = 1024;
constexpr int kMcPanels = 16;  // MC = 16 · MR rows of A per block (224 rows, 0.9 MiB packed at AVX-512 and KC = 1024)
constexpr int kNc = 2048;  // N block (the packed B slice: 8 MiB at KC = 1024)
constexpr int kPackRows = 32;  // rows of B per packing task (B stored [K, N])
// Below this many flops a product runs on one thread (waking the pool costs more than it saves).
constexpr double kParallelFlops = 4e6;

// a: an MR-tall packed panel of A, b: an NR-wide packed panel of B, both k-major. next_b: the next panel of B
// (kc × NR floats) to prefetch into L2 while this tile computes, or null.
// epi: bias and activation to apply to the whole tile (MR × NR) before it is stored, or null.
struct TileEpilogue {
  const float* bias;  // the tile's NR values, or null
  int act;
  float alpha;
};
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate,
                             const float* next_b, const TileEpilogue* epi);
using Epilogue = void (*)(float* c, int64_t ldc, int rows, int cols, const float* bias, int act, float alpha);

// Micro-kernels exist for every tile height 1..MR (templates), so the driver can split a block's rows into tiles of
// equal height (50 rows → 4 tiles of 13, not 3 of 14 and one of 14 computing 8 useful rows).
constexpr int kMaxMr = 14;

struct Variant {
  int mr, nr;
  MicroKernel kernels[kMaxMr + 1];  // kernels[h]: a tile of h ≤ mr rows
  Epilogue epilogue;
};

// kernels[h] = K<h> for h in 1..N (kernels[0] unused).
template <template <int> class K, int... H>
constexpr void fill_kernels(MicroKernel* out, std::integer_sequence<int, H...>) {
  ((out[H + 1] = &K<H + 1>::run), ...);
}

// ---- scalar -------------------------------------------------------------------------------------------------

// Each micro-kernel is the static `run` of a template on the tile height (fill_kernels takes the template).
template <int MR>
struct ScalarKernel {
  static void run(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate, const float*,
                  const TileEpilogue* epi) {
    ScalarTile<MR> tile;
    for (int64_t p = 0; p < kc; p++, a += MR, b += 16) tile.step([a](int i) { return a + i; }, b);
    tile.store(c, ldc, accumulate);
    if (epi != nullptr) {
      for (int r = 0; r < MR; r++) activate_row(c + r * ldc, epi->bias, 16, epi->act, epi->alpha);
    }
  }
};

void epilogue_scalar(float* c, int64_t ldc, int rows, int cols, const float* bias, int act, float alpha) {
  for (int r = 0; r < rows; r++) activate_row(c + r * ldc, bias, cols, act, alpha);
}

// ---- AVX2 ---------------------------------------------------------------------------------------------------

#if PROJ_X86
template <int MR>
struct Avx2Kernel {
  PROJ_TARGET_AVX2 static void run(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate,
                                   const float* next_b, const TileEpilogue* epi) {
    __m256 acc[MR][2];
    tile_zero<MR>(acc);
    if (next_b != nullptr) {  // one cache line of the next panel per step: the whole panel by the last step
      for (int64_t p = 0; p < kc; p++, a += MR, b += 16, next_b += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(next_b), _MM_HINT_T1);
        tile_step<MR>(acc, [a](int i) { return a + i; }, b);
      }
    } else {
      for (int64_t p = 0; p < kc; p++, a += MR, b += 16) tile_step<MR>(acc, [a](int i) { return a + i; }, b);
    }
    tile_store<MR>(acc, c, ldc, accumulate);
    if (epi != nullptr) {  // on the stored tile, while it is in L1 (auto-vectorised)
      for (int r = 0; r < MR; r++) activate_row(c + r * ldc, epi->bias, 16, epi->act, epi->alpha);
    }
  }
};

PROJ_TARGET_AVX2 void epilogue_avx2(float* c, int64_t ldc, int rows, int cols, const float* bias, int act, float alpha) {
  for (int r = 0; r < rows; r++) activate_row(c + r * ldc, bias, cols, act, alpha);
}

// ---- AVX-512 ------------------------------------------------------------------------------------------------

template <int MR>
struct Avx512Kernel {
  PROJ_TARGET_AVX512 static void run(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                     bool accumulate, const float* next_b, const TileEpilogue* epi) {
    __m512 acc[MR][2];
    tile_zero<MR>(acc);
    if (next_b != nullptr) {  // the two cache lines of the next panel's row per step: the whole panel by the last
      for (int64_t p = 0; p < kc; p++, a += MR, b += 32, next_b += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(next_b), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(next_b + 16), _MM_HINT_T1);
        tile_step<MR>(acc, [a](int i) { return a + i; }, b);
      }
    } else {
      for (int64_t p = 0; p < kc; p++, a += MR, b += 32) tile_step<MR>(acc, [a](int i) { return a + i; }, b);
    }
    if (epi != nullptr) {  // in registers: C (when accumulating), then bias, then the activation
      const __m512 bias0 = epi->bias == nullptr ? _mm512_setzero_ps() : _mm512_loadu_ps(epi->bias);
      const __m512 bias1 = epi->bias == nullptr ? _mm512_setzero_ps() : _mm512_loadu_ps(epi->bias + 16);
#pragma GCC unroll 14
      for (int i = 0; i < MR; i++) {
        if (accumulate) {
          acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(c + i * ldc));
          acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(c + i * ldc + 16));
        }
        acc[i][0] = activate512(_mm512_add_ps(acc[i][0], bias0), epi->act, epi->alpha);
        acc[i][1] = activate512(_mm512_add_ps(acc[i][1], bias1), epi->act, epi->alpha);
      }
      accumulate = false;
    }
    tile_store<MR>(acc, c, ldc, accumulate);
  }
};

PROJ_TARGET_AVX512 void epilogue_avx512(float* c, int64_t ldc, int rows, int cols, const float* bias, int act, float alpha) {
  for (int r = 0; r < rows; r++) activate_row(c + r * ldc, bias, cols, act, alpha);
}
#endif

template <template <int> class K, int MR>
Variant make_variant(int nr, Epilogue epilogue) {
  Variant v{MR, nr, {}, epilogue};
  fill_kernels<K>(v.kernels, std::make_integer_sequence<int, MR>());
  return v;
}

const Variant& variant() {
  static const Variant scalar = make_variant<ScalarKernel, 4>(16, epilogue_scalar);
#if PROJ_X86
  static const Variant avx2 = make_variant<Avx2Kernel, 6>(16, epilogue_avx2);
  static const Variant avx512 = make_variant<Avx512Kernel, 14>(32, epilogue_avx512);
  switch (current_isa()) {
    case Isa::kAvx512: return avx512;
    case Isa::kAvx2: return avx2;
    default: break;
  }
#endif
  return scalar;
}

// ---- packing ------------------------------------------------------------------------------------------------

// Panels of MR rows of op(A)[i0 : i0 + mc, p0 : p0 + kc], each k-major (kc × MR), zero-padded to whole panels.
void pack_a(const Gemm& g, const float* a, int i0, int mc, int p0, int kc, int mr, float* out) {
  for (int ip = 0; ip < mc; ip += mr) {
    const int rows = std::min(mr, mc - ip);
    float* panel = out + static_cast<int64_t>(ip) * kc;
    if (g.trans_a) {  // element (i, p) at a[p·lda + i]: rows are contiguous for each p
      for (int p = 0; p < kc; p++) {
        const float* src = a + static_cast<int64_t>(p0 + p) * g.lda + i0 + ip;
        float* dst = panel + static_cast<int64_t>(p) * mr;
        for (int i = 0; i < rows; i++) dst[i] = src[i];
        for (int i = rows; i < mr; i++) dst[i] = 0;
      }
    } else {  // element (i, p) at a[i·lda + p]
      for (int i = 0; i < rows; i++) {
        const float* src = a + static_cast<int64_t>(i0 + ip + i) * g.lda + p0;
        for (int p = 0; p < kc; p++) panel[static_cast<int64_t>(p) * mr + i] = src[p];
      }
      for (int i = rows; i < mr; i++) {
        for (int p = 0; p < kc; p++) panel[static_cast<int64_t>(p) * mr + i] = 0;
      }
    }
  }
}

// Panel `panel` (NR columns from j0 + panel·NR) of op(B)[p0 : p0 + kc, j0 : j0 + nc] for B stored [N, K]
// (transposed: each column of op(B) is a contiguous run of B), k-major, zero-padded.
void pack_bt_panel(const Gemm& g, const float* b, int j0, int nc, int p0, int kc, int nr, int panel, float* out) {
  const int jp = panel * nr;
  const int cols = std::min(nr, nc - jp);
  float* dst = out + static_cast<int64_t>(jp) * kc;
  for (int j = 0; j < cols; j++) {  // element (p, j) at b[j·ldb + p]
    const float* src = b + static_cast<int64_t>(j0 + jp + j) * g.ldb + p0;
    for (int p = 0; p < kc; p++) dst[static_cast<int64_t>(p) * nr + j] = src[p];
  }
  for (int j = cols; j < nr; j++) {
    for (int p = 0; p < kc; p++) dst[static_cast<int64_t>(p) * nr + j] = 0;
  }
}

// Rows [q_begin, q_end) of op(B)[p0 : p0 + kc, j0 : j0 + nc] for B stored [K, N] (not transposed), into every
// panel at once: each row is read front to back (a stream the prefetchers follow). The last panel is zero-padded.
void pack_b_rows(const Gemm& g, const float* b, int j0, int nc, int p0, int kc, int nr, int q_begin, int q_end,
                 float* out) {
  const int full = nc / nr;
  const int rest = nc - full * nr;
  const int64_t panel_floats = static_cast<int64_t>(nr) * kc;
  for (int q = q_begin; q < q_end; q++) {
    const float* src = b + static_cast<int64_t>(p0 + q) * g.ldb + j0;
    float* dst = out + static_cast<int64_t>(q) * nr;
    for (int panel = 0; panel < full; panel++, src += nr, dst += panel_floats) {
      for (int j = 0; j < nr; j++) dst[j] = src[j];  // a short fixed run: no memcpy call
    }
    if (rest > 0) {
      for (int j = 0; j < rest; j++) dst[j] = src[j];
      for (int j = rest; j < nr; j++) dst[j] = 0;
    }
  }
}

// ---- driver -------------------------------------------------------------------------------------------------

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// C = act(C·[accumulate] + bias) for K = 0 (no product).
void empty_product(const Gemm& g, const Variant& v) {
  for (int i = 0; i < g.m; i++) {
    float* row = g.c + static_cast<int64_t>(i) * g.ldc;
    if (!g.accumulate) std::fill(row, row + g.n, 0.0f);
  }
  if (g.bias != nullptr || g.activation != kActNone) v.epilogue(g.c, g.ldc, g.m, g.n, g.bias, g.activation, g.alpha);
}

// The tile height for a block of `rows` rows: the one that computes the fewest padded rows among the heights from
// 70% of MR to MR (shorter tiles reread B too often), the tallest of those on a tie. 50 rows → 5 tiles of 10 at
// MR = 14 (4 of 13 would compute 52, 4 of 14 would compute 56); 224 → 16 of 14; 176 → 16 of 11.
int tile_height(int rows, int mr) {
  int best = mr, best_rows = ceil_div(rows, mr) * mr;
  for (int h = mr - 1; h >= 1 && 10 * h >= 7 * mr; h--) {
    const int computed = ceil_div(rows, h) * h;
    if (computed < best_rows) best = h, best_rows = computed;
  }
  return std::min(best, rows);
}

// Packs MC-row block `ib` of op(A)[:, pc : pc + kc] into `packed_a` in the tile height compute_block uses.
void pack_a_block(const Gemm& g, const Variant& v, const float* a, int ib, int pc, int kc, float* packed_a) {
  const int mc_max = kMcPanels * v.mr;
  const int i0 = ib * mc_max;
  const int mc = std::min(mc_max, g.m - i0);
  pack_a(g, a, i0, mc, pc, kc, tile_height(mc, v.mr), packed_a);
}

// The tiles of MC-row block `ib` over NR panels [panel_begin, panel_end) of the packed B slice; packs the block of A
// into `packed_a` first unless `a_packed` (pack_a_block did it).
void compute_block(const Gemm& g, const Variant& v, const float* a, const float* packed_b, int ib, int panel_begin,
                   int panel_end, int jc, int nc, int pc, int kc, float* packed_a, bool a_packed) {
  const int nr = v.nr;
  const int mc_max = kMcPanels * v.mr;
  const int i0 = ib * mc_max;
  const int mc = std::min(mc_max, g.m - i0);
  // Tiles of equal height (depends on M only, never on the thread count, and each element's sum runs over K in the
  // same order whatever the tile height).
  const int mr = tile_height(mc, v.mr);
  const MicroKernel kernel = v.kernels[mr];
  if (!a_packed) pack_a_block(g, v, a, ib, pc, kc, packed_a);
  const bool first = pc == 0;
  const bool last = pc + kc == g.k;
  const bool accumulate = !first || g.accumulate;
  const bool epilogue = last && (g.bias != nullptr || g.activation != kActNone);
  alignas(64) float tile[kMaxMr * 32];
  for (int panel = panel_begin; panel < panel_end; panel++) {
    const int j = jc + panel * nr;
    const int cols = std::min(nr, jc + nc - j);
    const float* bp = packed_b + static_cast<int64_t>(panel) * nr * kc;
    for (int ip = 0; ip < mc; ip += mr) {
      const int rows = std::min(mr, mc - ip);
      float* c = g.c + static_cast<int64_t>(i0 + ip) * g.ldc + j;
      const float* ap = packed_a + static_cast<int64_t>(ip) * kc;
      // The first tile of a panel fetches the next panel into L2 (the prefetchers stop at page boundaries, so a
      // packed B streamed from memory would otherwise stall the first tile of every panel).
      const float* next_b = ip == 0 && panel + 1 < panel_end ? bp + static_cast<int64_t>(nr) * kc : nullptr;
      if (rows == mr && cols == nr) {  // a whole tile: the kernel applies the epilogue itself
        const TileEpilogue epi{g.bias == nullptr ? nullptr : g.bias + j, g.activation, g.alpha};
        kernel(kc, ap, bp, c, g.ldc, accumulate, next_b, epilogue ? &epi : nullptr);
        continue;
      }
      // An edge tile: computed into `tile`, its rows × cols copied out, then the epilogue on those.
      kernel(kc, ap, bp, tile, nr, false, next_b, nullptr);
      for (int r = 0; r < rows; r++) {
        float* dst = c + static_cast<int64_t>(r) * g.ldc;
        const float* src = tile + r * nr;
        for (int q = 0; q < cols; q++) dst[q] = accumulate ? dst[q] + src[q] : src[q];
      }
      if (epilogue) v.epilogue(c, g.ldc, rows, cols, g.bias == nullptr ? nullptr : g.bias + j, g.activation, g.alpha);
    }
  }
}

// B packed once (gemm_pack_b): the panels of every (NC block, KC slice) in gemm_one's order, for one ISA's NR.
struct PackedB {
  int k, n, nr;
  bool trans_b;
  Isa isa;
  std::vector<float> data;
};

// All packed B's of the process. The addon is shared by every worker thread that loads it, so the registry is
// locked; an entry is only ever released by the thread that packed it (its id lives in that thread's JS), so the
// pointer find_packed_b returns stays valid while that thread's product runs.
std::map<int, PackedB>& packed_bs() {
  static std::map<int, PackedB> all;
  return all;
}

std::mutex& packed_bs_lock() {
  static std::mutex lock;
  return lock;
}

// The packed B of id `id` if it fits product p on the current ISA, else null (p then packs its B itself).
const PackedB* find_packed_b(int id, const Gemm& p, int nr) {
  if (id == 0) return nullptr;
  const std::lock_guard<std::mutex> guard(packed_bs_lock());
  const auto it = packed_bs().find(id);
  if (it == packed_bs().end()) return nullptr;
  const PackedB& b = it->second;
  if (b.k != p.k || b.n != p.n || b.trans_b != p.trans_b || b.nr != nr || b.isa != current_isa()) return nullptr;
  return &b;
}

// One product. parallel: use the pool (B packed cooperatively into the shared scratch); else run on `thread`.
void gemm_one(const Gemm& g, const float* a, const float* b, float* c, bool parallel, int thread) {
  const Variant& v = variant();
  Gemm p = g;
  p.a = a;
  p.b = b;
  p.c = c;
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) return empty_product(p, v);
  ThreadPool& pool = ThreadPool::instance();
  const int mr = v.mr, nr = v.nr;
  const int mc_max = kMcPanels * mr;
  const int nc_max = std::min(kNc, ceil_div(p.n, nr) * nr);
  const int kc_max = std::min(kKc, p.k);
  const int64_t a_floats = static_cast<int64_t>(mc_max) * kc_max;
  const int64_t b_floats = static_cast<int64_t>(nc_max) * kc_max;
  const int threads = parallel ? pool.threads() : 1;
  const int m_blocks = ceil_div(p.m, mc_max);
  // Parallel: the shared buffer holds the packed B slice, then every block of A packed once for all the tasks that
  // split its panels (without it, each task would repack its block).
  float* shared = parallel ? pool.shared_scratch(b_floats + m_blocks * a_floats) : nullptr;
  float* packed_b = parallel ? shared : pool.scratch(thread, a_floats + b_floats) + a_floats;
  float* shared_a = parallel ? shared + b_floats : nullptr;
  if (parallel) {
    for (int t = 0; t < threads; t++) pool.scratch(t, a_floats);  // allocate before the parallel region
  }
  const PackedB* pre = find_packed_b(p.packed_b, p, nr);
  const float* pre_next = pre == nullptr ? nullptr : pre->data.data();
  for (int jc = 0; jc < p.n; jc += nc_max) {
    const int nc = std::min(nc_max, p.n - jc);
    const int panels = ceil_div(nc, nr);
    // Split the N panels too when there are too few row blocks for ≥ 4 tasks per thread (dynamic claiming then
    // balances the load; each extra chunk repacks its A block, a small cost next to its products).
    const int chunks = threads == 1 ? 1 : std::min(panels, ceil_div(4 * threads, m_blocks));
    for (int pc = 0; pc < p.k; pc += kc_max) {
      const int kc = std::min(kc_max, p.k - pc);
      // Packing tasks: panels of a transposed B, or runs of kPackRows rows of a B stored [K, N].
      const int pack_tasks = p.trans_b ? panels : ceil_div(kc, kPackRows);
      auto pack = [&](int i, int) {
        if (p.trans_b) return pack_bt_panel(p, b, jc, nc, pc, kc, nr, i, packed_b);
        pack_b_rows(p, b, jc, nc, pc, kc, nr, i * kPackRows, std::min(kc, (i + 1) * kPackRows), packed_b);
      };
      const bool share_a = parallel && chunks > 1;
      auto compute = [&](int task, int t) {
        const int ib = task / chunks, chunk = task % chunks;
        const int begin = panels * chunk / chunks, end = panels * (chunk + 1) / chunks;
        float* packed_a = share_a ? shared_a + static_cast<int64_t>(ib) * a_floats
                          : parallel ? pool.scratch(t, a_floats)
                                     : pool.scratch(thread, a_floats + b_floats);
        compute_block(p, v, a, packed_b, ib, begin, end, jc, nc, pc, kc, packed_a, share_a);
      };
      if (pre != nullptr) {  // B packed once by gemm_pack_b, in this order of (jc, pc)
        packed_b = const_cast<float*>(pre_next);
        pre_next += static_cast<int64_t>(panels) * nr * kc;
      }
      if (parallel) {
        if (pre == nullptr) pool.run(pack_tasks, pack);
        if (share_a) {
          pool.run(m_blocks, [&](int ib, int) { pack_a_block(p, v, a, ib, pc, kc, shared_a + static_cast<int64_t>(ib) * a_floats); });
        }
        pool.run(m_blocks * chunks, compute);
      } else {
        if (pre == nullptr) {
          for (int i = 0; i < pack_tasks; i++) pack(i, thread);
        }
        for (int task = 0; task < m_blocks; task++) compute(task, thread);
      }
    }
  }
}

}  // namespace

void gemm_serial(const Gemm& g, int thread) { gemm_one(g, g.a, g.b, g.c, false, thread); }

void gemm_batched(const Gemm& g, int batch, int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  ThreadPool& pool = ThreadPool::instance();
  const double flops = 2.0 * g.m * g.n * g.k;
  const int threads = pool.threads();
  if (threads > 1 && batch >= 2 && flops * batch >= kParallelFlops && flops < 8 * kParallelFlops) {
    // Small products: one per task, each on one thread.
    pool.run(batch, [&](int i, int thread) {
      gemm_one(g, g.a + stride_a * i, g.b + stride_b * i, g.c + stride_c * i, false, thread);
    });
    return;
  }
  const bool parallel = threads > 1 && flops >= kParallelFlops;
  for (int i = 0; i < batch; i++) gemm_one(g, g.a + stride_a * i, g.b + stride_b * i, g.c + stride_c * i, parallel, 0);
}

int gemm_pack_b(const float* b, int k, int n, int64_t ldb, bool trans_b) {
  static std::atomic<int> next_id{1};
  const Variant& v = variant();
  const int nr = v.nr;
  const int nc_max = std::min(kNc, ceil_div(n, nr) * nr);
  const int kc_max = std::min(kKc, std::max(k, 1));
  Gemm g;
  g.k = k;
  g.n = n;
  g.ldb = ldb;
  g.trans_b = trans_b;
  // Every (NC block, KC slice) is its panels × NR × KC floats; NC is a multiple of NR, so they add up to this.
  const int64_t floats = static_cast<int64_t>(ceil_div(n, nr)) * nr * k;
  PackedB packed{k, n, nr, trans_b, current_isa(), std::vector<float>(static_cast<size_t>(floats))};
  float* out = packed.data.data();
  for (int jc = 0; jc < n; jc += nc_max) {
    const int nc = std::min(nc_max, n - jc);
    const int panels = ceil_div(nc, nr);
    for (int pc = 0; pc < k; pc += kc_max) {
      const int kc = std::min(kc_max, k - pc);
      if (trans_b) {
        for (int panel = 0; panel < panels; panel++) pack_bt_panel(g, b, jc, nc, pc, kc, nr, panel, out);
      } else {
        pack_b_rows(g, b, jc, nc, pc, kc, nr, 0, kc, out);
      }
      out += static_cast<int64_t>(panels) * nr * kc;
    }
  }
  const int id = next_id++;
  const std::lock_guard<std::mutex> guard(packed_bs_lock());
  packed_bs().emplace(id, std::move(packed));
  return id;
}

void gemm_release_packed_b(int id) {
  const std::lock_guard<std::mutex> guard(packed_bs_lock());
  packed_bs().erase(id);
}

int64_t gemm_packed_b_floats() {
  const std::lock_guard<std::mutex> guard(packed_bs_lock());
  int64_t total = 0;
  for (const auto& [id, b] : packed_bs()) total += static_cast<int64_t>(b.data.size());
  return total;
}

void gemm_reference(const Gemm& g) {
  for (int i = 0; i < g.m; i++) {
    for (int j = 0; j < g.n; j++) {
      double sum = g.accumulate ? g.c[static_cast<int64_t>(i) * g.ldc + j] : 0.0;
      for (int p = 0; p < g.k; p++) {
        const float x = g.trans_a ? g.a[static_cast<int64_t>(p) * g.lda + i] : g.a[static_cast<int64_t>(i) * g.lda + p];
        const float y = g.trans_b ? g.b[static_cast<int64_t>(j) * g.ldb + p] : g.b[static_cast<int64_t>(p) * g.ldb + j];
        sum += static_cast<double>(x) * y;
      }
      g.c[static_cast<int64_t>(i) * g.ldc + j] = static_cast<float>(sum);
    }
    epilogue_scalar(g.c + static_cast<int64_t>(i) * g.ldc, g.ldc, 1, g.n, g.bias, g.activation, g.alpha);
  }
}

// ---- FMA peak -----------------------------------------------------------------------------------------------

namespace {

template <class Body>
double time_loop(double seconds, double flops_per_call, Body body) {
  using Clock = std::chrono::steady_clock;
  double best = 0;
  const auto start = Clock::now();
  do {
    const auto t0 = Clock::now();
    body();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, flops_per_call / dt / 1e9);
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  return best;
}

constexpr int64_t kPeakIterations = 1 << 20;

float peak_scalar() {
  float acc[8] = {};
  for (int64_t i = 0; i < kPeakIterations; i++) {
    for (int j = 0; j < 8; j++) acc[j] = acc[j] * 0.999999f + 1e-7f;
  }
  float s = 0;
  for (float x : acc) s += x;
  return s;
}

#if PROJ_X86
// 12 independent accumulators cover the FMA latency × throughput (4 cycles × 2 per cycle on Zen 5).
PROJ_TARGET_AVX2 float peak_avx2() {
  __m256 acc[12];
  for (auto& x : acc) x = _mm256_setzero_ps();
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < kPeakIterations; i++) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) acc[j] = _mm256_fmadd_ps(acc[j], m, a);
  }
  __m256 s = acc[0];
  for (int j = 1; j < 12; j++) s = _mm256_add_ps(s, acc[j]);
  return _mm256_cvtss_f32(s);
}

PROJ_TARGET_AVX512 float peak_avx512() {
  __m512 acc[12];
  for (auto& x : acc) x = _mm512_setzero_ps();
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < kPeakIterations; i++) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 12; j++) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float lanes[16];  // not _mm512_reduce_add_ps: GCC 12 warns inside it (-Wuninitialized)
  _mm512_store_ps(lanes, s);
  float total = 0;
  for (float x : lanes) total += x;
  return total;
}
#endif

volatile float peak_sink;

}  // namespace

double fma_peak_gflops(double seconds) {
  switch (current_isa()) {
#if PROJ_X86
    case Isa::kAvx512: return time_loop(seconds, 2.0 * 16 * 12 * kPeakIterations, [] { peak_sink = peak_avx512(); });
    case Isa::kAvx2: return time_loop(seconds, 2.0 * 8 * 12 * kPeakIterations, [] { peak_sink = peak_avx2(); });
#endif
    default: return time_loop(seconds, 2.0 * 8 * kPeakIterations, [] { peak_sink = peak_scalar(); });
  }
}

}  // namespace projnative
