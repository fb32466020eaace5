/**
 * groupNorm (+ SiLU) on host memory, x viewed as [N, S, C] with channels innermost. Per sample, three sweeps over
 * its contiguous S·C block, each a tight loop over the channels: per-channel sums (→ the group means μ), per-channel
 * sums of (x − μ)² (→ the biased group variances; two passes, so a large offset does not cancel), then
 * y = x·scale_c + shift_c with scale_c = r_g·γ_c, shift_c = β_c − μ_g·scale_c, r_g = 1/√(σ²_g + ε), and SiLU.
 * Accumulation is in float64 (JS numbers); the per-channel scratch is allocated once per call.
 */
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
  const block = samples === 0 ? 0 : x.length / samples; // S·C elements of one sample
  const perGroup = channels / groups;
  const count = (block / channels) * perGroup; // S·C/G elements of one (sample, group)
  const acc = new Float64Array(channels);
  const groupMean = new Float64Array(channels); // μ of each channel's group
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);

  for (let n = 0, base = 0; n < samples; n++, base += block) {
    const end = base + block;
    acc.fill(0);
    for (let row = base; row < end; row += channels) {
      for (let c = 0; c < channels; c++) acc[c] += x[row + c]!;
    }
    for (let g = 0, c0 = 0; g < groups; g++, c0 += perGroup) {
      let total = 0;
      for (let c = c0; c < c0 + perGroup; c++) total += acc[c]!;
      groupMean.fill(total / count, c0, c0 + perGroup);
    }

    acc.fill(0);
    for (let row = base; row < end; row += channels) {
      for (let c = 0; c < channels; c++) {
        const d = x[row + c]! - groupMean[c]!;
        acc[c] += d * d;
      }
    }
    for (let g = 0, c0 = 0; g < groups; g++, c0 += perGroup) {
      let squares = 0;
      for (let c = c0; c < c0 + perGroup; c++) squares += acc[c]!;
      const r = 1 / Math.sqrt(squares / count + epsilon);
      for (let c = c0; c < c0 + perGroup; c++) {
        scale[c] = r * gamma[c]!;
        shift[c] = beta[c]! - groupMean[c]! * scale[c]!;
      }
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
