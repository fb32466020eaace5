/**
 * Plain float64 loop reference of attention for the conformance suite, written from the definition (the whole
 * score matrix of a head, then a softmax per row), independently of the kernels. Arrays are row-major.
 *   O[b, h, i] = Σ_j softmax_j(scale · q_i·k_j + mask[b, h, i, j], causal: j ≤ i) v_j;   all −∞ → 0.
 */
export interface AttentionF64Options {
  scale: number;
  causal?: boolean;
  /** An additive mask broadcast to [B, H, Tq, Tk] by NumPy rules. */
  mask?: { values: ArrayLike<number>; shape: readonly number[] };
}

export function attentionF64(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  [batch, heads, queries, headSize]: readonly [number, number, number, number],
  keys: number,
  { scale, causal = false, mask }: AttentionF64Options,
): Float64Array {
  const out = new Float64Array(batch * heads * queries * headSize);
  const maskAt = (b: number, h: number, i: number, j: number): number => {
    if (mask === undefined) return 0;
    const full = [b, h, i, j];
    const shape = mask.shape;
    let offset = 0;
    for (let axis = 0; axis < shape.length; axis++) {
      const size = shape[axis]!;
      offset = offset * size + (size === 1 ? 0 : full[4 - shape.length + axis]!);
    }
    return mask.values[offset]!;
  };
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const head = b * heads + h;
      for (let i = 0; i < queries; i++) {
        const scores = new Float64Array(keys);
        for (let j = 0; j < keys; j++) {
          if (causal && j > i) {
            scores[j] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let c = 0; c < headSize; c++) dot += q[(head * queries + i) * headSize + c]! * k[(head * keys + j) * headSize + c]!;
          scores[j] = scale * dot + maskAt(b, h, i, j);
        }
        const rowMax = Math.max(...scores);
        if (rowMax === -Infinity) continue; // a zero row
        let total = 0;
        for (let j = 0; j < keys; j++) total += Math.exp(scores[j]! - rowMax);
        for (let j = 0; j < keys; j++) {
          const p = Math.exp(scores[j]! - rowMax) / total;
          for (let c = 0; c < headSize; c++) out[(head * queries + i) * headSize + c]! += p * v[(head * keys + j) * headSize + c]!;
        }
      }
    }
  }
  return out;
}
