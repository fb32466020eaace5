// Indirect convolution (conv-indirect.h): conv2d as GEMM without im2col and without packing A. The A operand of the
// conv's GEMM (im2col(x)) is read in place through row pointers — for output pixel r and tap t, the Cin contiguous
// channels of x that the tap sees, or a row of zeros in the padding — so each element of x is read by the
// micro-kernel straight from the feature map (the cost that dominated the im2col + pack version when Cout is small:
// every element of A was written and read twice for only Cout FMAs). B (the filter, or dy) is packed into NR-wide
// panels. Micro-kernels per ISA, MR × NR register tiles (AVX-512 8 × 32, AVX2 6 × 16, scalar 4 × 16), with every
// tile height 1..MR so that rows split into tiles of equal height (as gemm.cc). AVX-512 uses 8 rows, not the GEMM's
// 14: the row pointers compete for registers (on Zen 4, 8 × 32 ran ~10% faster than 12 × 32 in every conv shape
// of the unCLIP decoder).
//
//   forward  y [R, Cout] = act(Σ_t Σ_ci x[row(r, t) + ci] · w[t·Cin + ci, :] + bias)        tiles: MR pixels × NR
//   filter   dw [t·Cin + ci, :] = Σ_r x[row(r, t) + ci] · dy[r, :]                         tiles: MR channels × NR
//
// Threads: forward tasks are blocks of pixel tiles (every panel of each); filter tasks are (tap row, channel tile,
// panel), each summing over all pixels in chunks, in order. Every output element is computed by one task in a fixed
// order, so results do not depend on the thread count.
#include "conv-indirect.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "activation.h"
#include "elementwise.h"
#include "isa.h"
#include "register-tile.h"
#include "thread-pool.h"

namespace projnative {

namespace {

constexpr int kMaxMr = 8;
constexpr int kMaxNr = 32;

// forward: c [MR, NR] (+)= Σ_t Σ_ci rows[t·MR + i][ci] · b[(t·cin + ci)·NR + j]
using ForwardKernel = void (*)(int taps, int cin, const float* const* rows, const float* b, float* c, int64_t ldc,
                               bool accumulate);
// filter: c [MR, NR] (+)= Σ_p a(p)[i] · b[p·NR + j] with a(p) = rows[p] + offset (MR contiguous channels)
using FilterKernel = void (*)(int64_t pixels, const float* const* rows, int64_t offset, const float* b, float* c,
                              int64_t ldc, bool accumulate);

// ---- scalar -------------------------------------------------------------------------------------------------

template <int MR>
struct ScalarConv {
  static void forward(int taps, int cin, const float* const* rows, const float* b, float* c, int64_t ldc,
                      bool accumulate) {
    ScalarTile<MR> tile;
    for (int t = 0; t < taps; t++, rows += MR) {
      for (int ci = 0; ci < cin; ci++, b += 16) tile.step([rows, ci](int i) { return rows[i] + ci; }, b);
    }
    tile.store(c, ldc, accumulate);
  }

  static void filter(int64_t pixels, const float* const* rows, int64_t offset, const float* b, float* c, int64_t ldc,
                     bool accumulate) {
    ScalarTile<MR> tile;
    for (int64_t p = 0; p < pixels; p++, b += 16) {
      const float* a = rows[p] + offset;
      tile.step([a](int i) { return a + i; }, b);
    }
    tile.store(c, ldc, accumulate);
  }
};

// ---- AVX2, AVX-512 ------------------------------------------------------------------------------------------

#if PROJ_X86
template <int MR>
struct Avx2Conv {
  PROJ_TARGET_AVX2 static void forward(int taps, int cin, const float* const* rows, const float* b, float* c,
                                     int64_t ldc, bool accumulate) {
    __m256 acc[MR][2];
    tile_zero<MR>(acc);
    for (int t = 0; t < taps; t++, rows += MR) {
      const float* r[MR];
      for (int i = 0; i < MR; i++) r[i] = rows[i];
      for (int ci = 0; ci < cin; ci++, b += 16) tile_step<MR>(acc, [&r, ci](int i) { return r[i] + ci; }, b);
    }
    tile_store<MR>(acc, c, ldc, accumulate);
  }

  PROJ_TARGET_AVX2 static void filter(int64_t pixels, const float* const* rows, int64_t offset, const float* b, float* c,
                                    int64_t ldc, bool accumulate) {
    __m256 acc[MR][2];
    tile_zero<MR>(acc);
    for (int64_t p = 0; p < pixels; p++, b += 16) {
      const float* a = rows[p] + offset;
      tile_step<MR>(acc, [a](int i) { return a + i; }, b);
    }
    tile_store<MR>(acc, c, ldc, accumulate);
  }
};

template <int MR>
struct Avx512Conv {
  PROJ_TARGET_AVX512 static void forward(int taps, int cin, const float* const* rows, const float* b, float* c,
                                         int64_t ldc, bool accumulate) {
    __m512 acc[MR][2];
    tile_zero<MR>(acc);
    for (int t = 0; t < taps; t++, rows += MR) {
      const float* r[MR];
      for (int i = 0; i < MR; i++) r[i] = rows[i];
      for (int ci = 0; ci < cin; ci++, b += 32) tile_step<MR>(acc, [&r, ci](int i) { return r[i] + ci; }, b);
    }
    tile_store<MR>(acc, c, ldc, accumulate);
  }

  PROJ_TARGET_AVX512 static void filter(int64_t pixels, const float* const* rows, int64_t offset, const float* b,
                                        float* c, int64_t ldc, bool accumulate) {
    __m512 acc[MR][2];
    tile_zero<MR>(acc);
    for (int64_t p = 0; p < pixels; p++, b += 32) {
      const float* a = rows[p] + offset;
      tile_step<MR>(acc, [a](int i) { return a + i; }, b);
    }
    tile_store<MR>(acc, c, ldc, accumulate);
  }
};
#endif

// ---- variants -----------------------------------------------------------------------------------------------

struct Variant {
  int mr, nr;
  ForwardKernel forward[kMaxMr + 1];  // [h]: a tile of h ≤ mr rows
  FilterKernel filter[kMaxMr + 1];
};

// kernels[h] = K<h> for h in 1..N (index 0 unused); K<h> has static forward and filter.
template <template <int> class K, int... H>
void fill(Variant& v, std::integer_sequence<int, H...>) {
  ((v.forward[H + 1] = &K<H + 1>::forward, v.filter[H + 1] = &K<H + 1>::filter), ...);
}

template <template <int> class K, int MR>
Variant make_variant(int nr) {
  Variant v{MR, nr, {}, {}};
  fill<K>(v, std::make_integer_sequence<int, MR>());
  return v;
}

const Variant& variant() {
  static const Variant scalar = make_variant<ScalarConv, 4>(16);
#if PROJ_X86
  static const Variant avx2 = make_variant<Avx2Conv, 6>(16);
  static const Variant avx512 = make_variant<Avx512Conv, 8>(32);
  switch (current_isa()) {
    case Isa::kAvx512: return avx512;
    case Isa::kAvx2: return avx2;
    default: break;
  }
#endif
  return scalar;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Balanced tile height: as few tiles as mr allows, rows spread evenly.
inline int tile_height(int64_t rows, int mr) { return static_cast<int>(ceil_div(rows, ceil_div(rows, mr))); }

// Per output pixel: its image's first input row (n·H), and the input row/column its tap (0, 0) reads (may be
// outside the image). Built with counters once per call: dividing the pixel index into (n, oh, ow) for every pixel
// and tap cost more than the pixel's FMAs in the filter gradient (its first version ran at 18–47 GFLOP/s).
struct PixelOrigins {
  std::vector<int32_t> image_row, ih, iw;

  explicit PixelOrigins(const ConvGeometry& g) {
    const int64_t pixels = static_cast<int64_t>(g.batch) * g.out_height * g.out_width;
    image_row.resize(static_cast<size_t>(pixels));
    ih.resize(image_row.size());
    iw.resize(image_row.size());
    int64_t p = 0;
    for (int n = 0; n < g.batch; n++) {
      for (int oh = 0; oh < g.out_height; oh++) {
        for (int ow = 0; ow < g.out_width; ow++, p++) {
          image_row[p] = n * g.in_height;
          ih[p] = oh * g.stride_height - g.pad_top;
          iw[p] = ow * g.stride_width - g.pad_left;
        }
      }
    }
  }

  // Where pixel p reads tap (fh, fw) of x: the offset of its Cin channels, or −1 in the padding.
  int64_t offset(const ConvGeometry& g, int64_t p, int fh, int fw) const {
    const int h = ih[p] + fh * g.dilation_height, w = iw[p] + fw * g.dilation_width;
    if (h < 0 || h >= g.in_height || w < 0 || w >= g.in_width) return -1;
    return (static_cast<int64_t>(image_row[p] + h) * g.in_width + w) * g.in_channels;
  }
};

// b [K, N] (row-major, ld N) → panels of nr columns, each [K][nr], zero-padded.
void pack_panels(const float* b, int64_t k, int n, int nr, float* out) {
  const int panels = static_cast<int>(ceil_div(n, nr));
  for (int j = 0; j < panels; j++) {
    const int cols = std::min(nr, n - j * nr);
    float* dst = out + static_cast<int64_t>(j) * k * nr;
    for (int64_t p = 0; p < k; p++, dst += nr) {
      const float* src = b + p * n + j * nr;
      for (int q = 0; q < cols; q++) dst[q] = src[q];
      for (int q = cols; q < nr; q++) dst[q] = 0;
    }
  }
}

}  // namespace

void conv2d_indirect_forward(const ConvGeometry& g, const float* x, const float* w, float* y, const float* bias,
                             int activation, float alpha) {
  const Variant& v = variant();
  const int mr = v.mr, nr = v.nr;
  const int taps = g.filter_height * g.filter_width;
  const int cin = g.in_channels, cout = g.out_channels;
  const int64_t k = static_cast<int64_t>(taps) * cin;
  const int64_t pixels = static_cast<int64_t>(g.batch) * g.out_height * g.out_width;
  if (pixels == 0 || cout == 0) return;
  const int panels = static_cast<int>(ceil_div(cout, nr));
  std::vector<float> packed(static_cast<size_t>(panels) * k * nr);
  pack_panels(w, k, cout, nr, packed.data());
  const std::vector<float> zeros(static_cast<size_t>(std::max(cin, 1)), 0.0f);
  const int h = tile_height(std::min<int64_t>(pixels, 16 * mr), mr);  // tile height, from the first block
  const int64_t tiles = ceil_div(pixels, h);
  constexpr int kTilesPerTask = 8;
  const int tasks = static_cast<int>(ceil_div(tiles, kTilesPerTask));
  const bool epilogue = bias != nullptr || activation != kActNone;
  const PixelOrigins origins(g);
  auto body = [&](int task, int) {
    const float* rows[kMaxMr * 49];  // taps ≤ 49 use the stack; larger filters a vector
    std::vector<const float*> heap_rows;
    const float** r = rows;
    if (taps > 49) {
      heap_rows.resize(static_cast<size_t>(taps) * h);
      r = heap_rows.data();
    }
    alignas(64) float tile[kMaxMr * kMaxNr];
    const int64_t t_end = std::min(tiles, static_cast<int64_t>(task + 1) * kTilesPerTask);
    for (int64_t t = static_cast<int64_t>(task) * kTilesPerTask; t < t_end; t++) {
      const int64_t r0 = t * h;
      const int rows_here = static_cast<int>(std::min<int64_t>(h, pixels - r0));
      for (int tap = 0; tap < taps; tap++) {
        const int fh = tap / g.filter_width, fw = tap % g.filter_width;
        for (int i = 0; i < h; i++) {
          const int64_t at = i < rows_here ? origins.offset(g, r0 + i, fh, fw) : -1;
          r[tap * h + i] = at < 0 ? zeros.data() : x + at;
        }
      }
      for (int j = 0; j < panels; j++) {
        const int cols = std::min(nr, cout - j * nr);
        float* c = y + r0 * cout + j * nr;
        const float* b = packed.data() + static_cast<int64_t>(j) * k * nr;
        if (rows_here == h && cols == nr) {
          v.forward[h](taps, cin, r, b, c, cout, false);
        } else {
          v.forward[h](taps, cin, r, b, tile, nr, false);
          for (int i = 0; i < rows_here; i++) std::memcpy(c + i * cout, tile + i * nr, sizeof(float) * cols);
        }
        if (epilogue) activate_rows(c, cout, rows_here, cols, bias == nullptr ? nullptr : bias + j * nr, activation, alpha);
      }
    }
  };
  ThreadPool& pool = ThreadPool::instance();
  if (pool.threads() > 1 && tasks > 1 && 2.0 * pixels * k * cout >= 4e6) {
    pool.run(tasks, body);
  } else {
    for (int task = 0; task < tasks; task++) body(task, 0);
  }
}

void conv2d_indirect_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  const Variant& v = variant();
  const int mr = v.mr, nr = v.nr;
  const int fh_n = g.filter_height, fw_n = g.filter_width;
  const int cin = g.in_channels, cout = g.out_channels;
  const int64_t pixels = static_cast<int64_t>(g.batch) * g.out_height * g.out_width;
  const int64_t k = static_cast<int64_t>(fh_n) * fw_n * cin;
  if (k == 0 || cout == 0) return;
  const int64_t outputs = k * cout;
  const int panels = static_cast<int>(ceil_div(cout, nr));
  const int h = tile_height(cin, mr);  // channel tiles of balanced height (the last may be lower)
  const int ctiles = static_cast<int>(ceil_div(cin, h));
  // Pixel blocks of a size that depends on the shapes only: each block sums its pixels into its own partial dw
  // (one task per block), then the partials are added in block order, so results do not depend on the threads.
  constexpr int64_t kChunk = 256;  // pixels whose dy panel chunks (32 KiB each) stay in L1/L2 for every tap
  const int64_t block = std::max<int64_t>(16 * kChunk, ceil_div(pixels, 8));
  const int blocks = static_cast<int>(std::max<int64_t>(1, ceil_div(pixels, block)));
  ThreadPool& pool = ThreadPool::instance();
  // Per thread: the dy chunk panels, then a zero row that stands in for padding pixels (read for up to Cin channels).
  const size_t zero_floats = std::max<size_t>(kChunk, static_cast<size_t>(cin));
  const size_t per_thread = static_cast<size_t>(panels) * kChunk * nr + zero_floats;
  const bool parallel = pool.threads() > 1 && blocks > 1 && 2.0 * pixels * k * cout >= 4e6;
  const int threads = parallel ? pool.threads() : 1;
  float* partials = blocks > 1 ? pool.shared_scratch(static_cast<size_t>(blocks) * outputs, ThreadPool::kWork) : dw;
  for (int t = 0; t < threads; t++) pool.scratch(t, per_thread, ThreadPool::kWork);
  const PixelOrigins origins(g);
  auto body = [&](int b, int thread) {
    float* out = blocks > 1 ? partials + static_cast<int64_t>(b) * outputs : dw;
    float* scratch = pool.scratch(thread, per_thread, ThreadPool::kWork);
    float* dy_chunk = scratch;  // [panels][kChunk][nr]
    float* zeros = scratch + static_cast<size_t>(panels) * kChunk * nr;
    std::fill(zeros, zeros + zero_floats, 0.0f);
    const float* rows[kChunk];
    alignas(64) float tile[kMaxMr * kMaxNr];
    const int64_t p_begin = static_cast<int64_t>(b) * block, p_end = std::min(pixels, p_begin + block);
    if (p_begin >= p_end) std::fill(out, out + outputs, 0.0f);
    for (int64_t p0 = p_begin; p0 < p_end; p0 += kChunk) {
      const int64_t n = std::min(kChunk, p_end - p0);
      const bool accumulate = p0 > p_begin;
      for (int j = 0; j < panels; j++) {  // dy[p0 : p0 + n, panel j] → [n][nr], zero-padded
        const int cols = std::min(nr, cout - j * nr);
        float* dst = dy_chunk + static_cast<int64_t>(j) * kChunk * nr;
        for (int64_t p = 0; p < n; p++) {
          const float* src = dy + (p0 + p) * cout + j * nr;
          for (int q = 0; q < cols; q++) dst[p * nr + q] = src[q];
          for (int q = cols; q < nr; q++) dst[p * nr + q] = 0;
        }
      }
      for (int fh = 0; fh < fh_n; fh++) {
        for (int fw = 0; fw < fw_n; fw++) {
          const int tap = fh * fw_n + fw;
          for (int64_t p = 0; p < n; p++) {
            const int64_t at = origins.offset(g, p0 + p, fh, fw);
            rows[p] = at < 0 ? zeros : x + at;
          }
          for (int ct = 0; ct < ctiles; ct++) {
            const int ci0 = ct * h, rows_here = std::min(h, cin - ci0);
            for (int j = 0; j < panels; j++) {
              const int cols = std::min(nr, cout - j * nr);
              float* c = out + (static_cast<int64_t>(tap) * cin + ci0) * cout + j * nr;
              const float* bp = dy_chunk + static_cast<int64_t>(j) * kChunk * nr;
              if (cols == nr) {
                v.filter[rows_here](n, rows, ci0, bp, c, cout, accumulate);
              } else {
                if (accumulate) {
                  for (int i = 0; i < rows_here; i++) std::memcpy(tile + i * nr, c + i * cout, sizeof(float) * cols);
                }
                v.filter[rows_here](n, rows, ci0, bp, tile, nr, accumulate);
                for (int i = 0; i < rows_here; i++) std::memcpy(c + i * cout, tile + i * nr, sizeof(float) * cols);
              }
            }
          }
        }
      }
    }
  };
  if (parallel) {
    pool.run(blocks, body);
  } else {
    for (int b = 0; b < blocks; b++) body(b, 0);
  }
  if (blocks > 1) {
    std::copy(partials, partials + outputs, dw);
    for (int b = 1; b < blocks; b++) {
      const float* partial = partials + static_cast<int64_t>(b) * outputs;
      for (int64_t i = 0; i < outputs; i++) dw[i] += partial[i];
    }
  }
}

}  // namespace projnative
