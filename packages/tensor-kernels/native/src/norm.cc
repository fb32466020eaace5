// Layer norm and NHWC group norm (+ SiLU) forward, and group norm's gradient (kernels.h). Memory-bound: plain loops,
// auto-vectorised; layer norm and the group norm gradient (its sigmoid) are compiled per ISA, group norm's forward
// for the baseline ISA; statistics in double (layer norm's over 8 partial sums). Parallel over rows (layer norm) or
// over (sample, block of pixels) (group norm); each output is written by one task, so results do not depend on
// the thread count. Reference: layerNormReference / groupNormReference in src/ops (the tests compare).
#include <algorithm>
#include <cmath>
#include <vector>

#include "activation.h"
#include "elementwise.h"
#include "isa.h"
#include "kernels.h"
#include "thread-pool.h"

namespace projnative {

namespace {

// Elements below which a kernel stays on the calling thread.
constexpr int64_t kParallelElements = 1 << 16;

// Σ f(x[c]) in double over 8 interleaved partial sums, added in a fixed order at the end: independent accumulators
// vectorise and do not wait on one another (one running sum is a chain of dependent adds, ~4 cycles an element).
template <class F>
PROJ_INLINE double row_sum_double(const float* x, int n, F f) {
  double part[8] = {};
  int c = 0;
  for (; c + 8 <= n; c += 8) {
    for (int t = 0; t < 8; t++) part[t] += f(x[c + t]);
  }
  for (; c < n; c++) part[c % 8] += f(x[c]);
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}


// One row of layer norm (compiled per ISA below; the statistics are the same on every ISA: the double sums run in
// the same order).
PROJ_INLINE void layer_norm_row(const float* xr, const float* gamma, const float* beta, float* yr, int channels,
                                float epsilon) {
  const double mean = row_sum_double(xr, channels, [](float v) { return static_cast<double>(v); }) / channels;
  const float hi = static_cast<float>(mean), lo = static_cast<float>(mean - hi);  // as in group_norm below
  const double sq = row_sum_double(xr, channels, [hi, lo](float v) {
    const float d = (v - hi) - lo;
    return static_cast<double>(d) * d;
  });
  const float rstd = static_cast<float>(1.0 / std::sqrt(sq / channels + epsilon));
  for (int c = 0; c < channels; c++) yr[c] = ((xr[c] - hi) - lo) * rstd * gamma[c] + beta[c];
}

using LayerNormRows = void (*)(const float* x, const float* gamma, const float* beta, float* out, int64_t begin,
                               int64_t end, int channels, float epsilon);

void layer_norm_rows_scalar(const float* x, const float* gamma, const float* beta, float* out, int64_t begin,
                            int64_t end, int channels, float epsilon) {
  for (int64_t r = begin; r < end; r++) layer_norm_row(x + r * channels, gamma, beta, out + r * channels, channels, epsilon);
}

#if PROJ_X86
PROJ_TARGET_AVX2 void layer_norm_rows_avx2(const float* x, const float* gamma, const float* beta, float* out,
                                           int64_t begin, int64_t end, int channels, float epsilon) {
  for (int64_t r = begin; r < end; r++) layer_norm_row(x + r * channels, gamma, beta, out + r * channels, channels, epsilon);
}

PROJ_TARGET_AVX512 void layer_norm_rows_avx512(const float* x, const float* gamma, const float* beta, float* out,
                                               int64_t begin, int64_t end, int channels, float epsilon) {
  for (int64_t r = begin; r < end; r++) layer_norm_row(x + r * channels, gamma, beta, out + r * channels, channels, epsilon);
}
#endif

}  // namespace

void layer_norm(const float* x, const float* gamma, const float* beta, float* out, int64_t rows, int channels,
                float epsilon) {
  LayerNormRows fn = layer_norm_rows_scalar;
#if PROJ_X86
  if (current_isa() == Isa::kAvx512) fn = layer_norm_rows_avx512;
  if (current_isa() == Isa::kAvx2) fn = layer_norm_rows_avx2;
#endif
  constexpr int64_t kRowsPerTask = 16;
  const int tasks = static_cast<int>((rows + kRowsPerTask - 1) / kRowsPerTask);
  auto body = [&](int task, int) {
    fn(x, gamma, beta, out, task * kRowsPerTask, std::min(rows, (task + 1) * kRowsPerTask), channels, epsilon);
  };
  if (rows * channels >= kParallelElements) {
    ThreadPool::instance().run(tasks, body);
  } else {
    for (int t = 0; t < tasks; t++) body(t, 0);
  }
}

void group_norm(const float* x, const float* gamma, const float* beta, float* out, int samples, int64_t pixels,
                int channels, int groups, float epsilon, bool silu) {
  ThreadPool& pool = ThreadPool::instance();
  const int per_group = channels / groups;
  const bool parallel = samples * pixels * channels >= kParallelElements;
  // Pass 1: per-channel sums and sums of squares of each sample, in double (one task per sample).
  std::vector<double> sums(static_cast<size_t>(samples) * channels * 2, 0.0);
  auto stats = [&](int n, int) {
    double* s = sums.data() + static_cast<size_t>(n) * channels * 2;
    double* s2 = s + channels;
    const float* xn = x + n * pixels * channels;
    for (int64_t p = 0; p < pixels; p++) {
      const float* row = xn + p * channels;
      for (int c = 0; c < channels; c++) {
        s[c] += row[c];
        s2[c] += static_cast<double>(row[c]) * row[c];
      }
    }
  };
  if (parallel) pool.run(samples, stats); else for (int n = 0; n < samples; n++) stats(n, 0);
  // Per (sample, channel): y = (x − mean)·scale + β with scale = γ·rstd (not x·scale + shift: with a large mean
  // and a small spread the two terms cancel in float32).
  // The mean is kept as a float pair hi + lo: x − hi is exact near the mean (Sterbenz), so (x − hi) − lo keeps the
  // small deviations that a float32 mean would round away.
  std::vector<float> scale(static_cast<size_t>(samples) * channels), mean_hi(scale.size()), mean_lo(scale.size());
  const double count = static_cast<double>(pixels) * per_group;
  for (int n = 0; n < samples; n++) {
    const double* s = sums.data() + static_cast<size_t>(n) * channels * 2;
    for (int gi = 0; gi < groups; gi++) {
      double sum = 0, sq = 0;
      for (int c = gi * per_group; c < (gi + 1) * per_group; c++) {
        sum += s[c];
        sq += s[channels + c];
      }
      const double mean = sum / count;
      const double var = std::max(0.0, sq / count - mean * mean);
      const double rstd = 1.0 / std::sqrt(var + epsilon);
      for (int c = gi * per_group; c < (gi + 1) * per_group; c++) {
        scale[n * channels + c] = static_cast<float>(gamma[c] * rstd);
        mean_hi[n * channels + c] = static_cast<float>(mean);
        mean_lo[n * channels + c] = static_cast<float>(mean - static_cast<float>(mean));
      }
    }
  }
  // Pass 2: normalise (and SiLU) in blocks of pixels.
  constexpr int64_t kPixelsPerTask = 64;
  const int64_t blocks = (pixels + kPixelsPerTask - 1) / kPixelsPerTask;
  auto apply = [&](int task, int) {
    const int n = static_cast<int>(task / blocks);
    const int64_t p0 = (task % blocks) * kPixelsPerTask, p1 = std::min(pixels, p0 + kPixelsPerTask);
    const float* sc = scale.data() + static_cast<size_t>(n) * channels;
    const float* hi = mean_hi.data() + static_cast<size_t>(n) * channels;
    const float* lo = mean_lo.data() + static_cast<size_t>(n) * channels;
    for (int64_t p = p0; p < p1; p++) {
      const float* xr = x + (n * pixels + p) * channels;
      float* yr = out + (n * pixels + p) * channels;
      for (int c = 0; c < channels; c++) yr[c] = ((xr[c] - hi[c]) - lo[c]) * sc[c] + beta[c];
      if (silu) activate_rows(yr, channels, 1, channels, nullptr, kActSilu, 0);
    }
  };
  const int tasks = static_cast<int>(samples * blocks);
  if (parallel) pool.run(tasks, apply); else for (int t = 0; t < tasks; t++) apply(t, 0);
}

// With x̂ = (x − μ)·r, z = x̂γ + β, y = z·σ(z) (or y = z), dz = dy·σ(z)(1 + z(1 − σ(z))) (or dy):
//   dβ = Σ dz,  dγ = Σ dz·x̂,  dx = r·(dz·γ − mean_g(dz·γ) − x̂·mean_g(dz·γ·x̂))
// with mean_g over the sample's group (pixels × C/G entries). One task per sample (its statistics, as group_norm
// computes them, then two passes over its pixels), compiled per ISA so that the sigmoid and the double sums
// vectorise; dγ and dβ are summed over the samples' partial sums in order afterwards (deterministic).
namespace {

struct GroupNormGradArgs {
  const float *x, *gamma, *beta, *dy;
  float* dx;
  int64_t pixels;
  int channels, groups;
  float epsilon;
  bool silu;
};

// Sample n; sdz, sdx: its per-channel Σ dz and Σ dz·x̂ (double, zeroed here); work: 6 × channels floats. SiLU is
// a template argument: a branch inside the pixel loop keeps it from vectorising.
template <bool kSilu>
PROJ_INLINE void group_norm_grad_sample(const GroupNormGradArgs& g, int n, double* __restrict sdz,
                                        double* __restrict sdx, double* __restrict s, double* __restrict s2,
                                        float* __restrict work) {
  const int channels = g.channels, per_group = channels / g.groups;
  const int64_t base = n * g.pixels * channels;
  const float* __restrict x = g.x + base;
  const float* __restrict dy = g.dy + base;
  float* __restrict dx = g.dx + base;
  const float* __restrict gamma = g.gamma;
  const float* __restrict beta = g.beta;
  float* __restrict hi = work;
  float* __restrict lo = work + channels;
  float* __restrict r = work + 2 * channels;
  float* __restrict xhat = work + 3 * channels;
  float* __restrict mean_g = work + 4 * channels;
  float* __restrict mean_gx = work + 5 * channels;
  // statistics (the same double sums, in the same order, as group_norm's pass 1)
  for (int c = 0; c < channels; c++) s[c] = s2[c] = sdz[c] = sdx[c] = 0;
  for (int64_t p = 0; p < g.pixels; p++) {
    const float* xp = x + p * channels;
    for (int c = 0; c < channels; c++) {
      const double v = xp[c];
      s[c] += v;
      s2[c] += v * v;
    }
  }
  const double count = static_cast<double>(g.pixels) * per_group;
  for (int c0 = 0; c0 < channels; c0 += per_group) {
    double sum = 0, sq = 0;
    for (int c = c0; c < c0 + per_group; c++) {
      sum += s[c];
      sq += s2[c];
    }
    const double mean = sum / count;
    const double rstd = 1.0 / std::sqrt(std::max(0.0, sq / count - mean * mean) + g.epsilon);
    for (int c = c0; c < c0 + per_group; c++) {
      hi[c] = static_cast<float>(mean);
      lo[c] = static_cast<float>(mean - static_cast<float>(mean));
      r[c] = static_cast<float>(rstd);
    }
  }
  // pass 1: dz (into dx), Σ dz, Σ dz·x̂
  for (int64_t p = 0; p < g.pixels; p++) {
    const float* __restrict xp = x + p * channels;
    const float* __restrict dyp = dy + p * channels;
    float* __restrict dxp = dx + p * channels;
    for (int c = 0; c < channels; c++) xhat[c] = ((xp[c] - hi[c]) - lo[c]) * r[c];
    if (kSilu) {
      for (int c = 0; c < channels; c++) {
        const float z = xhat[c] * gamma[c] + beta[c];
        const float sg = fast_sigmoid(z);
        dxp[c] = dyp[c] * (sg * (1.0f + z * (1.0f - sg)));
      }
    } else {
      for (int c = 0; c < channels; c++) dxp[c] = dyp[c];
    }
    for (int c = 0; c < channels; c++) {
      sdz[c] += dxp[c];
      sdx[c] += dxp[c] * xhat[c];
    }
  }
  for (int c0 = 0; c0 < channels; c0 += per_group) {
    double gs = 0, gx = 0;
    for (int c = c0; c < c0 + per_group; c++) {
      gs += gamma[c] * sdz[c];
      gx += gamma[c] * sdx[c];
    }
    for (int c = c0; c < c0 + per_group; c++) {
      mean_g[c] = static_cast<float>(gs / count);
      mean_gx[c] = static_cast<float>(gx / count);
    }
  }
  // pass 2: dx
  for (int64_t p = 0; p < g.pixels; p++) {
    const int64_t i0 = p * channels;
    for (int c = 0; c < channels; c++) {
      const float xhat = ((x[i0 + c] - hi[c]) - lo[c]) * r[c];
      dx[i0 + c] = r[c] * (dx[i0 + c] * gamma[c] - mean_g[c] - xhat * mean_gx[c]);
    }
  }
}

using GroupNormGradSample = void (*)(const GroupNormGradArgs&, int, double*, double*, double*, double*, float*);

void group_norm_grad_sample_scalar(const GroupNormGradArgs& g, int n, double* sdz, double* sdx, double* s, double* s2,
                                   float* work) {
  if (g.silu) return group_norm_grad_sample<true>(g, n, sdz, sdx, s, s2, work);
  group_norm_grad_sample<false>(g, n, sdz, sdx, s, s2, work);
}
#if PROJ_X86
PROJ_TARGET_AVX2 void group_norm_grad_sample_avx2(const GroupNormGradArgs& g, int n, double* sdz, double* sdx,
                                                  double* s, double* s2, float* work) {
  if (g.silu) return group_norm_grad_sample<true>(g, n, sdz, sdx, s, s2, work);
  group_norm_grad_sample<false>(g, n, sdz, sdx, s, s2, work);
}
PROJ_TARGET_AVX512 void group_norm_grad_sample_avx512(const GroupNormGradArgs& g, int n, double* sdz, double* sdx,
                                                      double* s, double* s2, float* work) {
  if (g.silu) return group_norm_grad_sample<true>(g, n, sdz, sdx, s, s2, work);
  group_norm_grad_sample<false>(g, n, sdz, sdx, s, s2, work);
}
#endif

}  // namespace

void group_norm_grad(const float* x, const float* gamma, const float* beta, const float* dy, float* dx, float* dgamma,
                     float* dbeta, int samples, int64_t pixels, int channels, int groups, float epsilon, bool silu) {
  const GroupNormGradArgs args{x, gamma, beta, dy, dx, pixels, channels, groups, epsilon, silu};
  GroupNormGradSample fn = group_norm_grad_sample_scalar;
#if PROJ_X86
  if (current_isa() == Isa::kAvx512) fn = group_norm_grad_sample_avx512;
  if (current_isa() == Isa::kAvx2) fn = group_norm_grad_sample_avx2;
#endif
  const size_t per_sample = static_cast<size_t>(channels);
  std::vector<double> sums(static_cast<size_t>(samples) * per_sample * 2);
  double* sum_dz = sums.data();
  double* sum_dz_xhat = sums.data() + static_cast<size_t>(samples) * per_sample;
  ThreadPool& pool = ThreadPool::instance();
  const bool parallel = samples * pixels * channels >= kParallelElements;
  const int threads = parallel ? pool.threads() : 1;
  // per thread: s, s2 (double) and 6 float rows
  std::vector<double> stats(static_cast<size_t>(threads) * per_sample * 2);
  std::vector<float> work(static_cast<size_t>(threads) * per_sample * 6);
  auto sample = [&](int n, int t) {
    fn(args, n, sum_dz + n * per_sample, sum_dz_xhat + n * per_sample, stats.data() + t * per_sample * 2,
       stats.data() + t * per_sample * 2 + per_sample, work.data() + t * per_sample * 6);
  };
  if (parallel) {
    pool.run(samples, sample);
  } else {
    for (int n = 0; n < samples; n++) sample(n, 0);
  }
  for (int c = 0; c < channels; c++) {
    double gb = 0, gg = 0;
    for (int n = 0; n < samples; n++) {
      gb += sum_dz[static_cast<size_t>(n) * channels + c];
      gg += sum_dz_xhat[static_cast<size_t>(n) * channels + c];
    }
    dbeta[c] = static_cast<float>(gb);
    dgamma[c] = static_cast<float>(gg);
  }
}

}  // namespace projnative
