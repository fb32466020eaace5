/**
 * groupNorm (+ SiLU) and its gradient on host memory, x viewed as [N, S, C] with channels innermost. Every step is a
 * sweep over one sample's contiguous S·C block with a tight loop over the channels; per-channel float64 scratch is
 * allocated once per call. Accumulation and the affine are in float64 (JS numbers).
 *
 * Stats (two passes, so a large offset does not cancel): per-channel sums → the group means μ; per-channel sums of
 * (x − μ)² → the biased group variances σ²; r = 1/√(σ² + ε). Both are stored per (sample, channel).
 * Forward: y = x·scale_c + shift_c with scale_c = r_g·γ_c, shift_c = β_c − μ_g·scale_c, then SiLU when `silu`.
 * Gradient (see ops/group-norm-grad.ts): one sweep gathers per-channel Σ dz and Σ dz·x̂ (with SiLU it also stores
 * dz = dy·silu'(z) in dx), a second writes dx = r·(dz·γ − mean_group(dz·γ) − x̂·mean_group(dz·γ·x̂)).
 */

/** Per (sample, channel): the mean and 1/√(var + ε) of the channel's group. Both arrays have samples·channels entries. */
export interface GroupStats {
  mean: Float64Array;
  rstd: Float64Array;
}

export function groupNormStatsHost(x: Float32Array, samples: number, channels: number, groups: number, epsilon: number): GroupStats {
  const block = samples === 0 ? 0 : x.length / samples; // S·C elements of one sample
  const perGroup = channels / groups;
  const count = (block / channels) * perGroup; // S·C/G elements of one (sample, group)
  const mean = new Float64Array(samples * channels);
  const rstd = new Float64Array(samples * channels);
  const acc = new Float64Array(channels);
  for (let n = 0, base = 0; n < samples; n++, base += block) {
    const end = base + block;
    const at = n * channels;
    acc.fill(0);
    for (let row = base; row < end; row += channels) {
      for (let c = 0; c < channels; c++) acc[c] = acc[c]! + x[row + c]!;
    }
    for (let c0 = 0; c0 < channels; c0 += perGroup) {
      let total = 0;
      for (let c = c0; c < c0 + perGroup; c++) total += acc[c]!;
      mean.fill(total / count, at + c0, at + c0 + perGroup);
    }

    const mu = mean.subarray(at, at + channels);
    acc.fill(0);
    for (let row = base; row < end; row += channels) {
      for (let c = 0; c < channels; c++) {
        const d = x[row + c]! - mu[c]!;
        acc[c] = acc[c]! + d * d;
      }
    }
    for (let c0 = 0; c0 < channels; c0 += perGroup) {
      let squares = 0;
      for (let c = c0; c < c0 + perGroup; c++) squares += acc[c]!;
      rstd.fill(1 / Math.sqrt(squares / count + epsilon), at + c0, at + c0 + perGroup);
    }
  }
  return { mean, rstd };
}

/** y = (x − μ)·r·γ + β, then SiLU when `silu`. */
export function groupNormApplyHost(x: Float32Array, gamma: Float32Array, beta: Float32Array, stats: GroupStats, out: Float32Array, samples: number, channels: number, silu: boolean): void {
  const block = samples === 0 ? 0 : x.length / samples;
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let n = 0, base = 0; n < samples; n++, base += block) {
    const end = base + block;
    for (let c = 0, at = n * channels; c < channels; c++, at++) {
      scale[c] = stats.rstd[at]! * gamma[c]!;
      shift[c] = beta[c]! - stats.mean[at]! * scale[c]!;
    }
    if (silu) {
      for (let row = base; row < end; row += channels) {
        for (let c = 0; c < channels; c++) {
          const y = x[row + c]! * scale[c]! + shift[c]!;
          out[row + c] = y / (1 + Math.exp(-y));
        }
      }
    } else {
      for (let row = base; row < end; row += channels) {
        for (let c = 0; c < channels; c++) out[row + c] = x[row + c]! * scale[c]! + shift[c]!;
      }
    }
  }
}

/** The forward op: stats, then the affine (and SiLU). */
export function groupNormHost(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  out: Float32Array,
  samples: number,
  channels: number,
  groups: number,
  epsilon: number,
  silu: boolean,
): void {
  groupNormApplyHost(x, gamma, beta, groupNormStatsHost(x, samples, channels, groups, epsilon), out, samples, channels, silu);
}

/**
 * Gradients of groupNorm (+ SiLU when `silu`) into dx [like x], dgamma and dbeta [C]. `sigmoid`, when given, holds
 * σ(z) of the pre-activation z = x̂·γ + β (the wasm kernel computes it with wasm's vectorised Sigmoid); otherwise it
 * is computed here.
 */
export function groupNormGradHost(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  dy: Float32Array,
  stats: GroupStats,
  sigmoid: Float32Array | null,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  samples: number,
  channels: number,
  groups: number,
  silu: boolean,
): void {
  const block = samples === 0 ? 0 : x.length / samples;
  const perGroup = channels / groups;
  const count = (block / channels) * perGroup;
  const sumDz = new Float64Array(channels); // per sample: Σ dz, Σ dz·x̂ per channel
  const sumDzXHat = new Float64Array(channels);
  const totalDBeta = new Float64Array(channels);
  const totalDGamma = new Float64Array(channels);
  const meanG = new Float64Array(channels); // per channel: mean over its group of g = dz·γ, and of g·x̂
  const meanGXHat = new Float64Array(channels);
  for (let n = 0, base = 0; n < samples; n++, base += block) {
    const end = base + block;
    const mu = stats.mean.subarray(n * channels, (n + 1) * channels);
    const rs = stats.rstd.subarray(n * channels, (n + 1) * channels);
    sumDz.fill(0);
    sumDzXHat.fill(0);
    if (silu) {
      for (let row = base; row < end; row += channels) {
        for (let c = 0; c < channels; c++) {
          const i = row + c;
          const xHat = (x[i]! - mu[c]!) * rs[c]!;
          const z = xHat * gamma[c]! + beta[c]!;
          const s = sigmoid !== null ? sigmoid[i]! : 1 / (1 + Math.exp(-z));
          const dz = dy[i]! * s * (1 + z * (1 - s));
          dx[i] = dz;
          sumDz[c] = sumDz[c]! + dz;
          sumDzXHat[c] = sumDzXHat[c]! + dz * xHat;
        }
      }
    } else {
      for (let row = base; row < end; row += channels) {
        for (let c = 0; c < channels; c++) {
          const i = row + c;
          const dz = dy[i]!;
          sumDz[c] = sumDz[c]! + dz;
          sumDzXHat[c] = sumDzXHat[c]! + dz * (x[i]! - mu[c]!) * rs[c]!;
        }
      }
    }
    for (let c0 = 0; c0 < channels; c0 += perGroup) {
      let g = 0;
      let gx = 0;
      for (let c = c0; c < c0 + perGroup; c++) {
        g += gamma[c]! * sumDz[c]!;
        gx += gamma[c]! * sumDzXHat[c]!;
      }
      meanG.fill(g / count, c0, c0 + perGroup);
      meanGXHat.fill(gx / count, c0, c0 + perGroup);
    }
    for (let c = 0; c < channels; c++) {
      totalDBeta[c] = totalDBeta[c]! + sumDz[c]!;
      totalDGamma[c] = totalDGamma[c]! + sumDzXHat[c]!;
    }
    const dzs = silu ? dx : dy; // dz was stored in dx by the SiLU sweep
    for (let row = base; row < end; row += channels) {
      for (let c = 0; c < channels; c++) {
        const i = row + c;
        const r = rs[c]!;
        dx[i] = r * (dzs[i]! * gamma[c]! - meanG[c]! - (x[i]! - mu[c]!) * r * meanGXHat[c]!);
      }
    }
  }
  dgamma.set(totalDGamma);
  dbeta.set(totalDBeta);
}
