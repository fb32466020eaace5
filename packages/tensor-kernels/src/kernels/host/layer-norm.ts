/** layerNorm on host memory: one pass for the mean, one for the variance, one to normalise (rows × C). */
export function layerNormHost(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  out: Float32Array,
  channels: number,
  epsilon: number,
): void {
  const rows = x.length / channels;
  for (let row = 0, base = 0; row < rows; row++, base += channels) {
    let total = 0;
    for (let c = 0; c < channels; c++) total += x[base + c]!;
    const mu = total / channels;
    let squares = 0;
    for (let c = 0; c < channels; c++) {
      const d = x[base + c]! - mu;
      squares += d * d;
    }
    const r = 1 / Math.sqrt(squares / channels + epsilon);
    for (let c = 0; c < channels; c++) out[base + c] = (x[base + c]! - mu) * r * gamma[c]! + beta[c]!;
  }
}
