// conv2d, NHWC, as GEMM over im2col blocks (kernels.h):
//
//   forward          y [R, Cout]  = act(cols [R, K] · w [K, Cout] + bias)     (1×1, stride 1, no pad: cols = x)
//   backprop input   cols [R, K]  = dy [R, Cout] · wᵀ,  then dx += col2im(cols)
//   backprop filter  dw [K, Cout] = Σ_blocks colsᵀ [K, R] · dy [R, Cout]     (transposed-A GEMM, accumulated)
//
// R = output pixels of a block of whole output rows, K = FH·FW·Cin with column k = (fh·FW + fw)·Cin + ci (the
// [FH, FW, Cin, Cout] filter flattened to [K, Cout]). Blocks keep `cols` within kColsBudget floats. im2col runs in
// parallel over the block's rows; col2im runs on one thread (neighbouring rows add into the same input pixels).
// Reference: the tfjs cpu backend's conv2d kernels (the conformance tests compare against them).
#include <algorithm>
#include <cstring>

#include "activation.h"
#include "gemm.h"
#include "kernels.h"
#include "thread-pool.h"

namespace projnative {

namespace {

constexpr int64_t kColsBudget = int64_t{1} << 20;

int64_t taps(const ConvGeometry& g) { return static_cast<int64_t>(g.filter_height) * g.filter_width * g.in_channels; }

bool is_pointwise(const ConvGeometry& g) {
  return g.filter_height == 1 && g.filter_width == 1 && g.stride_height == 1 && g.stride_width == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_height == g.in_height && g.out_width == g.in_width;
}

int rows_per_block(const ConvGeometry& g) {
  const int64_t total = static_cast<int64_t>(g.batch) * g.out_height;
  const int64_t rows = kColsBudget / std::max<int64_t>(1, taps(g) * g.out_width);
  return static_cast<int>(std::max<int64_t>(1, std::min(total, rows)));
}

// cols [rows·OW, K] for global output rows [row0, row0 + rows) (row = n·OH + oh).
void im2col_row(const ConvGeometry& g, const float* x, float* cols, int row) {
  const int n = row / g.out_height, oh = row % g.out_height;
  const int64_t k = taps(g);
  const int c = g.in_channels;
  for (int ow = 0; ow < g.out_width; ow++) {
    float* dst = cols + ow * k;
    for (int fh = 0; fh < g.filter_height; fh++) {
      const int ih = oh * g.stride_height + fh * g.dilation_height - g.pad_top;
      for (int fw = 0; fw < g.filter_width; fw++, dst += c) {
        const int iw = ow * g.stride_width + fw * g.dilation_width - g.pad_left;
        if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) {
          std::memset(dst, 0, sizeof(float) * c);
        } else {
          std::memcpy(dst, x + ((static_cast<int64_t>(n) * g.in_height + ih) * g.in_width + iw) * c, sizeof(float) * c);
        }
      }
    }
  }
}

void im2col(const ConvGeometry& g, const float* x, float* cols, int row0, int rows) {
  const int64_t row_floats = taps(g) * g.out_width;
  const bool parallel = row_floats * rows >= (1 << 16);
  auto body = [&](int r, int) { im2col_row(g, x, cols + r * row_floats, row0 + r); };
  if (parallel) {
    ThreadPool::instance().run(rows, body);
  } else {
    for (int r = 0; r < rows; r++) body(r, 0);
  }
}

void col2im_add(const ConvGeometry& g, const float* cols, float* dx, int row0, int rows) {
  const int64_t k = taps(g);
  const int c = g.in_channels;
  for (int r = 0; r < rows; r++) {
    const int row = row0 + r;
    const int n = row / g.out_height, oh = row % g.out_height;
    for (int ow = 0; ow < g.out_width; ow++) {
      const float* src = cols + (static_cast<int64_t>(r) * g.out_width + ow) * k;
      for (int fh = 0; fh < g.filter_height; fh++) {
        const int ih = oh * g.stride_height + fh * g.dilation_height - g.pad_top;
        for (int fw = 0; fw < g.filter_width; fw++, src += c) {
          const int iw = ow * g.stride_width + fw * g.dilation_width - g.pad_left;
          if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
          float* dst = dx + ((static_cast<int64_t>(n) * g.in_height + ih) * g.in_width + iw) * c;
          for (int ci = 0; ci < c; ci++) dst[ci] += src[ci];
        }
      }
    }
  }
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, float* y, const float* bias, int activation,
                    float alpha) {
  const int64_t k = taps(g);
  const int total = g.batch * g.out_height;
  Gemm p;
  p.n = g.out_channels;
  p.k = static_cast<int>(k);
  p.b = w;
  p.ldb = g.out_channels;
  p.ldc = g.out_channels;
  p.lda = k;
  p.bias = bias;
  p.activation = activation;
  p.alpha = alpha;
  if (is_pointwise(g)) {
    p.m = total * g.out_width;
    p.a = x;
    p.c = y;
    return gemm(p);
  }
  const int block = rows_per_block(g);
  float* cols = ThreadPool::instance().shared_scratch(static_cast<size_t>(block) * g.out_width * k, ThreadPool::kWork);
  for (int row0 = 0; row0 < total; row0 += block) {
    const int rows = std::min(block, total - row0);
    im2col(g, x, cols, row0, rows);
    p.m = rows * g.out_width;
    p.a = cols;
    p.c = y + static_cast<int64_t>(row0) * g.out_width * g.out_channels;
    gemm(p);
  }
}

void conv2d_backprop_input(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const int64_t k = taps(g);
  const int total = g.batch * g.out_height;
  Gemm p;
  p.n = static_cast<int>(k);
  p.k = g.out_channels;
  p.b = w;  // [K, Cout] read transposed
  p.ldb = g.out_channels;
  p.trans_b = true;
  p.lda = g.out_channels;
  if (is_pointwise(g)) {
    p.m = total * g.out_width;
    p.a = dy;
    p.c = dx;
    p.ldc = k;
    return gemm(p);
  }
  std::memset(dx, 0, sizeof(float) * g.batch * g.in_height * g.in_width * g.in_channels);
  const int block = rows_per_block(g);
  float* cols = ThreadPool::instance().shared_scratch(static_cast<size_t>(block) * g.out_width * k, ThreadPool::kWork);
  p.ldc = k;
  p.c = cols;
  for (int row0 = 0; row0 < total; row0 += block) {
    const int rows = std::min(block, total - row0);
    p.m = rows * g.out_width;
    p.a = dy + static_cast<int64_t>(row0) * g.out_width * g.out_channels;
    gemm(p);
    col2im_add(g, cols, dx, row0, rows);
  }
}

void conv2d_backprop_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  const int64_t k = taps(g);
  const int total = g.batch * g.out_height;
  Gemm p;
  p.m = static_cast<int>(k);
  p.n = g.out_channels;
  p.trans_a = true;  // cols [R, K] read as [K, R]
  p.lda = k;
  p.ldb = g.out_channels;
  p.c = dw;
  p.ldc = g.out_channels;
  if (is_pointwise(g)) {
    p.k = total * g.out_width;
    p.a = x;
    p.b = dy;
    return gemm(p);
  }
  const int block = rows_per_block(g);
  float* cols = ThreadPool::instance().shared_scratch(static_cast<size_t>(block) * g.out_width * k, ThreadPool::kWork);
  for (int row0 = 0; row0 < total; row0 += block) {
    const int rows = std::min(block, total - row0);
    im2col(g, x, cols, row0, rows);
    p.k = rows * g.out_width;
    p.a = cols;
    p.b = dy + static_cast<int64_t>(row0) * g.out_width * g.out_channels;
    p.accumulate = row0 > 0;
    gemm(p);
  }
}

}  // namespace projnative
