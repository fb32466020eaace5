/** Plain float64 loop references of the ops, for the conformance suite. Arrays are row-major. */

/** layerNorm over the last axis of `channels`. */
export function layerNormF64(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, channels: number, epsilon: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += channels) {
    let mu = 0;
    for (let c = 0; c < channels; c++) mu += x[base + c]!;
    mu /= channels;
    let v = 0;
    for (let c = 0; c < channels; c++) v += (x[base + c]! - mu) ** 2;
    const r = 1 / Math.sqrt(v / channels + epsilon);
    for (let c = 0; c < channels; c++) out[base + c] = (x[base + c]! - mu) * r * gamma[c]! + beta[c]!;
  }
  return out;
}
