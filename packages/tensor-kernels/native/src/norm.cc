// Layer norm and NHWC group norm (+ SiLU) forward, and group norm's gradient (kernels.h). Memory-bound: one plain implementation, compiled
// for the baseline ISA (auto-vectorised); the statistics accumulate in double. Parallel over rows (layer norm) or
// over (sample, block of pixels) (group norm); each output is written by one task, so results do not depend on
// the thread count. Reference: layerNormReference / groupNormReference in src/ops (the tests compare).
#include <algorithm>
#include <cmath>
#include <vector>

#include "activation.h"
#include "elementwise.h"
#include "kernels.h"
#include "thread-pool.h"

namespace projnative {

namespace {

// Elements below which a kernel stays on the calling thread.
constexpr int64_t kParallelElements = 1 << 16;

}  // namespace

void layer_norm(const float* x, const float* gamma, const float* beta, float* out, int64_t rows, int channels,
                float epsilon) {
  constexpr int64_t kRowsPerTask = 16;
  const int tasks = static_cast<int>((rows + kRowsPerTask - 1) / kRowsPerTask);
  auto body = [&](int task, int) {
    const int64_t end = std::min(rows, (task + 1) * kRowsPerTask);
    for (int64_t r = task * kRowsPerTask; r < end; r++) {
      const float* xr = x + r * channels;
      float* yr = out + r * channels;
      double sum = 0;
      for (int c = 0; c < channels; c++) sum += xr[c];
      const double mean = sum / channels;
      const float hi = static_cast<float>(mean), lo = static_cast<float>(mean - hi);  // as in group_norm below
      double sq = 0;
      for (int c = 0; c < channels; c++) {
        const float d = (xr[c] - hi) - lo;
        sq += static_cast<double>(d) * d;
      }
      const float rstd = static_cast<float>(1.0 / std::sqrt(sq / channels + epsilon));
      for (int c = 0; c < channels; c++) yr[c] = ((xr[c] - hi) - lo) * rstd * gamma[c] + beta[c];
    }
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

namespace {

// Per (sample, channel): the group's mean as a float pair and rstd, as group_norm computes them.
struct GroupStats {
  std::vector<float> hi, lo, rstd;
};

GroupStats group_stats(const float* x, int samples, int64_t pixels, int channels, int groups, float epsilon) {
  const int per_group = channels / groups;
  GroupStats st;
  st.hi.resize(static_cast<size_t>(samples) * channels);
  st.lo.resize(st.hi.size());
  st.rstd.resize(st.hi.size());
  std::vector<double> s(channels), s2(channels);
  for (int n = 0; n < samples; n++) {
    std::fill(s.begin(), s.end(), 0.0);
    std::fill(s2.begin(), s2.end(), 0.0);
    const float* xn = x + n * pixels * channels;
    for (int64_t p = 0; p < pixels; p++) {
      for (int c = 0; c < channels; c++) {
        const double v = xn[p * channels + c];
        s[c] += v;
        s2[c] += v * v;
      }
    }
    const double count = static_cast<double>(pixels) * per_group;
    for (int gi = 0; gi < groups; gi++) {
      double sum = 0, sq = 0;
      for (int c = gi * per_group; c < (gi + 1) * per_group; c++) {
        sum += s[c];
        sq += s2[c];
      }
      const double mean = sum / count;
      const double rstd = 1.0 / std::sqrt(std::max(0.0, sq / count - mean * mean) + epsilon);
      for (int c = gi * per_group; c < (gi + 1) * per_group; c++) {
        st.hi[n * channels + c] = static_cast<float>(mean);
        st.lo[n * channels + c] = static_cast<float>(mean - static_cast<float>(mean));
        st.rstd[n * channels + c] = static_cast<float>(rstd);
      }
    }
  }
  return st;
}

}  // namespace

// With x̂ = (x − μ)·r, z = x̂γ + β, y = z·σ(z) (or y = z), dz = dy·σ(z)(1 + z(1 − σ(z))) (or dy):
//   dβ = Σ dz,  dγ = Σ dz·x̂,  dx = r·(dz·γ − mean_g(dz·γ) − x̂·mean_g(dz·γ·x̂))
// with mean_g over the sample's group (pixels × C/G entries). One task per sample; dγ and dβ are summed over the
// samples' partial sums in order afterwards (deterministic).
void group_norm_grad(const float* x, const float* gamma, const float* beta, const float* dy, float* dx, float* dgamma,
                     float* dbeta, int samples, int64_t pixels, int channels, int groups, float epsilon, bool silu) {
  const int per_group = channels / groups;
  const GroupStats st = group_stats(x, samples, pixels, channels, groups, epsilon);
  std::vector<double> sum_dz(static_cast<size_t>(samples) * channels), sum_dz_xhat(sum_dz.size());
  auto sample = [&](int n, int) {
    const size_t o = static_cast<size_t>(n) * channels;
    const float* hi = st.hi.data() + o;
    const float* lo = st.lo.data() + o;
    const float* r = st.rstd.data() + o;
    double* sdz = sum_dz.data() + o;
    double* sdx = sum_dz_xhat.data() + o;
    const int64_t base = n * pixels * channels;
    std::vector<float> row_dz(channels), row_dzx(channels);
    for (int64_t p = 0; p < pixels; p++) {
      const int64_t i0 = base + p * channels;
      for (int c = 0; c < channels; c++) {
        const float xhat = ((x[i0 + c] - hi[c]) - lo[c]) * r[c];
        float dz = dy[i0 + c];
        if (silu) {
          const float z = xhat * gamma[c] + beta[c];
          const float s = fast_sigmoid(z);
          dz *= s * (1.0f + z * (1.0f - s));
        }
        dx[i0 + c] = dz;
        row_dz[c] = dz;
        row_dzx[c] = dz * xhat;
      }
      for (int c = 0; c < channels; c++) {
        sdz[c] += row_dz[c];
        sdx[c] += row_dzx[c];
      }
    }
    std::vector<float> mean_g(channels), mean_gx(channels);
    const double count = static_cast<double>(pixels) * per_group;
    for (int c0 = 0; c0 < channels; c0 += per_group) {
      double g = 0, gx = 0;
      for (int c = c0; c < c0 + per_group; c++) {
        g += gamma[c] * sdz[c];
        gx += gamma[c] * sdx[c];
      }
      for (int c = c0; c < c0 + per_group; c++) {
        mean_g[c] = static_cast<float>(g / count);
        mean_gx[c] = static_cast<float>(gx / count);
      }
    }
    for (int64_t p = 0; p < pixels; p++) {
      const int64_t i0 = base + p * channels;
      for (int c = 0; c < channels; c++) {
        const float xhat = ((x[i0 + c] - hi[c]) - lo[c]) * r[c];
        dx[i0 + c] = r[c] * (dx[i0 + c] * gamma[c] - mean_g[c] - xhat * mean_gx[c]);
      }
    }
  };
  if (samples * pixels * channels >= kParallelElements) {
    ThreadPool::instance().run(samples, sample);
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
