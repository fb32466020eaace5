// conv2d, NHWC (kernels.h):
//
//   forward          y = act(conv(x, w) + bias): indirect GEMM over x in place (conv-indirect.cc); a 1×1 stride-1
//                    conv without padding is one GEMM over x
//   backprop input   stride 1: the forward conv of dy with the filter flipped and its channels swapped (padding
//                    FH − 1 − pad); other strides: cols [R, K] = dy [R, Cout] · wᵀ (GEMM), then dx += col2im(cols)
//   backprop filter  dw [K, Cout] = im2col(x)ᵀ · dy: indirect (conv-indirect.cc); 1×1 stride 1: one GEMM xᵀ · dy
//
// R = output pixels, K = FH·FW·Cin with column k = (fh·FW + fw)·Cin + ci (the [FH, FW, Cin, Cout] filter flattened
// to [K, Cout]). col2im runs on one thread over blocks of output rows (neighbouring rows add into the same input
// pixels), with the cols block kept within kColsBudget floats.
// Reference: the tfjs cpu backend's conv2d kernels (the conformance tests compare against them).
#include <algorithm>
#include <cstring>
#include <vector>

#include "activation.h"
#include "conv-indirect.h"
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
  conv2d_indirect_forward(g, x, w, y, bias, activation, alpha);
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
  if (g.stride_height == 1 && g.stride_width == 1 && g.dilation_height == 1 && g.dilation_width == 1) {
    // dx[n, ih, iw, ci] = Σ dy[n, ih + fh' − (FH − 1 − pad), …, co] · w[FH − 1 − fh', FW − 1 − fw', ci, co]:
    // a forward conv of dy with w' [FH, FW, Cout, Cin] (flipped, channels swapped).
    const int fh_n = g.filter_height, fw_n = g.filter_width, ci_n = g.in_channels, co_n = g.out_channels;
    std::vector<float> flipped(static_cast<size_t>(k) * co_n);
    for (int fh = 0; fh < fh_n; fh++) {
      for (int fw = 0; fw < fw_n; fw++) {
        const float* src = w + (static_cast<int64_t>(fh_n - 1 - fh) * fw_n + (fw_n - 1 - fw)) * ci_n * co_n;
        float* dst = flipped.data() + (static_cast<int64_t>(fh) * fw_n + fw) * co_n * ci_n;
        for (int ci = 0; ci < ci_n; ci++) {
          for (int co = 0; co < co_n; co++) dst[static_cast<int64_t>(co) * ci_n + ci] = src[static_cast<int64_t>(ci) * co_n + co];
        }
      }
    }
    ConvGeometry t{g.batch, g.out_height, g.out_width, co_n, g.in_height, g.in_width, ci_n, fh_n, fw_n, 1, 1, 1, 1,
                   fh_n - 1 - g.pad_top, fw_n - 1 - g.pad_left};
    return conv2d_forward(t, dy, flipped.data(), dx, nullptr, kActNone, 0);
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
  conv2d_indirect_filter(g, x, dy, dw);
}

}  // namespace projnative
