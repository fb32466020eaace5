// Layer norm and NHWC group norm (+ SiLU), forward (kernels.h). Memory-bound: one plain implementation, compiled
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

}  // namespace projnative
