/** Plain float64 loop reference of groupNorm (+ SiLU), for the conformance suite. Arrays are row-major. */

/**
 * groupNorm of x viewed as [samples, S, channels] (channels innermost) with `groups` groups of channels: per (sample,
 * group) the mean and biased variance over S and the group's channels, y = (x − μ)/√(σ² + ε)·γ + β, then y·σ(y)
 * when `silu`. Written per (n, g) element by element, independently of the kernels' per-channel sweeps.
 */
export function groupNormF64(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  samples: number,
  channels: number,
  groups: number,
  epsilon: number,
  silu = false,
): Float64Array {
  const out = new Float64Array(x.length);
  const positions = x.length / (samples * channels);
  const perGroup = channels / groups;
  const count = positions * perGroup;
  const at = (n: number, s: number, c: number) => (n * positions + s) * channels + c;
  for (let n = 0; n < samples; n++) {
    for (let g = 0; g < groups; g++) {
      const c0 = g * perGroup;
      let mu = 0;
      for (let s = 0; s < positions; s++) for (let c = c0; c < c0 + perGroup; c++) mu += x[at(n, s, c)]!;
      mu /= count;
      let v = 0;
      for (let s = 0; s < positions; s++) for (let c = c0; c < c0 + perGroup; c++) v += (x[at(n, s, c)]! - mu) ** 2;
      const r = 1 / Math.sqrt(v / count + epsilon);
      for (let s = 0; s < positions; s++) {
        for (let c = c0; c < c0 + perGroup; c++) {
          const y = (x[at(n, s, c)]! - mu) * r * gamma[c]! + beta[c]!;
          out[at(n, s, c)] = silu ? y / (1 + Math.exp(-y)) : y;
        }
      }
    }
  }
  return out;
}
