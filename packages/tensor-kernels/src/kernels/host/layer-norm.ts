/**
 * layerNorm on host memory (rows × C). One pass gathers the sum and the sum of squares of (x − shift), with the
 * row's first element as the shift so that a large common offset cannot cancel catastrophically, in float64
 * with four independent accumulators (the add latency, not memory, bounds a single chain); a second pass
 * normalises. Two passes instead of three keep this kernel at or above the speed of the wasm composition.
 */
export function layerNormHost(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  out: Float32Array,
  channels: number,
  epsilon: number,
): void {
  const rows = x.length / channels;
  const tail = channels & ~3;
  for (let row = 0, base = 0; row < rows; row++, base += channels) {
    const shift = x[base]!;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    let c = 0;
    for (; c < tail; c += 4) {
      const a = x[base + c]! - shift;
      const b = x[base + c + 1]! - shift;
      const d = x[base + c + 2]! - shift;
      const e = x[base + c + 3]! - shift;
      s0 += a; s1 += b; s2 += d; s3 += e;
      q0 += a * a; q1 += b * b; q2 += d * d; q3 += e * e;
    }
    for (; c < channels; c++) {
      const a = x[base + c]! - shift;
      s0 += a;
      q0 += a * a;
    }
    const meanShifted = (s0 + s1 + s2 + s3) / channels;
    const variance = Math.max((q0 + q1 + q2 + q3) / channels - meanShifted * meanShifted, 0);
    const mu = shift + meanShifted;
    const r = 1 / Math.sqrt(variance + epsilon);
    for (c = 0; c < channels; c++) out[base + c] = (x[base + c]! - mu) * (r * gamma[c]!) + beta[c]!;
  }
}
