/**
 * attention on host memory, fused per (batch·head, block of 4 query rows): a row of scores per query (the only
 * buffer, 4 × Tk), its max, exp and sum, then the probability-weighted sum of the value rows. No [Tq, Tk] matrix
 * is allocated.
 * Semantics as in ops/attention.ts: causal keeps keys j ≤ i; a row whose scores are all −∞ gives zeros.
 */

/** Sizes of one call: q [B, H, Tq, D], k and v [B, H, Tk, D]. */
export interface AttentionDims {
  batch: number;
  heads: number;
  queries: number;
  keys: number;
  headSize: number;
}

/** The additive mask and its strides over the scores [B, H, Tq, Tk] (0 on broadcast axes). */
export interface HostMask {
  values: Float32Array;
  strides: readonly [number, number, number, number];
}

/** Query rows computed together: each key and value row is read once per block, and four sums run side by side. */
const ROWS = 4;

/** Scratch for `attentionHost`, reusable across calls of the same sizes. */
export interface AttentionScratch {
  scores: Float32Array; // [ROWS, Tk]: float32 like the other backends' scores (scale·q·k − 1e9 rounds to −1e9 there too)
  acc: Float64Array; // [ROWS, D]
}

export function attentionScratch(dims: AttentionDims): AttentionScratch {
  return { scores: new Float32Array(ROWS * dims.keys), acc: new Float64Array(ROWS * dims.headSize) };
}

/** Where one head's rows are: offsets of q/out, k/v and the mask, and the mask's strides along Tq and Tk. */
interface Head {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  mask: Float32Array | undefined;
  out: Float32Array;
  kvBase: number;
  maskBase: number;
  msQ: number;
  msK: number;
  keys: number;
  d: number;
  scale: number;
  causal: boolean;
}

export function attentionHost(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: HostMask | null,
  out: Float32Array,
  dims: AttentionDims,
  scale: number,
  causal: boolean,
  scratch: AttentionScratch = attentionScratch(dims),
): void {
  const { batch, heads, queries, keys, headSize: d } = dims;
  const [msB, msH, msQ, msK] = mask?.strides ?? [0, 0, 0, 0];
  const head: Head = { q, k, v, mask: mask?.values, out, kvBase: 0, maskBase: 0, msQ, msK, keys, d, scale, causal };
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const bh = b * heads + h;
      head.kvBase = bh * keys * d;
      head.maskBase = b * msB + h * msH;
      let i = 0;
      for (; i + ROWS <= queries; i += ROWS) attendFourRows(head, bh * queries, i, scratch);
      for (; i < queries; i++) attendRow(head, bh * queries, i, scratch);
    }
  }
}

/**
 * Query rows i … i+3 of a head (`rowBase` is the head's first row in q and out): 1. scores
 * s_rj = scale · q_r·k_j + mask_rj rounded to float32, −∞ past the causal diagonal, and their row maxima (NaN kept);
 * 2. o_r = Σ_j exp(s_rj − max_r) v_j / Σ_j exp(s_rj − max_r), a row of only −∞ giving zeros, not NaN.
 */
function attendFourRows(head: Head, rowBase: number, i: number, { scores, acc }: AttentionScratch): void {
  const { q, k, v, mask, out, kvBase, msK, keys, d, scale, causal } = head;
  const q0 = (rowBase + i) * d;
  const q1 = q0 + d;
  const q2 = q1 + d;
  const q3 = q2 + d;
  const m0 = head.maskBase + i * head.msQ;
  const m1 = m0 + head.msQ;
  const m2 = m1 + head.msQ;
  const m3 = m2 + head.msQ;
  const keyEnd = causal ? Math.min(keys, i + ROWS) : keys; // row i + r sees keys j ≤ i + r
  let max0 = -Infinity;
  let max1 = -Infinity;
  let max2 = -Infinity;
  let max3 = -Infinity;
  for (let j = 0, kOff = kvBase; j < keyEnd; j++, kOff += d) {
    let dot0 = 0;
    let dot1 = 0;
    let dot2 = 0;
    let dot3 = 0;
    for (let c = 0; c < d; c++) {
      const kc = k[kOff + c]!;
      dot0 += q[q0 + c]! * kc;
      dot1 += q[q1 + c]! * kc;
      dot2 += q[q2 + c]! * kc;
      dot3 += q[q3 + c]! * kc;
    }
    let s0 = dot0 * scale;
    let s1 = dot1 * scale;
    let s2 = dot2 * scale;
    let s3 = dot3 * scale;
    if (mask !== undefined) {
      const mj = j * msK;
      s0 += mask[m0 + mj]!;
      s1 += mask[m1 + mj]!;
      s2 += mask[m2 + mj]!;
      s3 += mask[m3 + mj]!;
    }
    if (causal && j > i) {
      s0 = -Infinity;
      if (j > i + 1) s1 = -Infinity;
      if (j > i + 2) s2 = -Infinity;
      if (j > i + 3) s3 = -Infinity;
    }
    s0 = scores[j] = Math.fround(s0);
    s1 = scores[keys + j] = Math.fround(s1);
    s2 = scores[2 * keys + j] = Math.fround(s2);
    s3 = scores[3 * keys + j] = Math.fround(s3);
    if (s0 > max0 || s0 !== s0) max0 = s0;
    if (s1 > max1 || s1 !== s1) max1 = s1;
    if (s2 > max2 || s2 !== s2) max2 = s2;
    if (s3 > max3 || s3 !== s3) max3 = s3;
  }
  const dead0 = max0 === -Infinity;
  const dead1 = max1 === -Infinity;
  const dead2 = max2 === -Infinity;
  const dead3 = max3 === -Infinity;
  if (dead0) max0 = 0; // then exp(−∞ − 0) = 0 over the whole row
  if (dead1) max1 = 0;
  if (dead2) max2 = 0;
  if (dead3) max3 = 0;
  acc.fill(0, 0, ROWS * d);
  let total0 = 0;
  let total1 = 0;
  let total2 = 0;
  let total3 = 0;
  for (let j = 0, vOff = kvBase; j < keyEnd; j++, vOff += d) {
    const p0 = Math.exp(scores[j]! - max0);
    const p1 = Math.exp(scores[keys + j]! - max1);
    const p2 = Math.exp(scores[2 * keys + j]! - max2);
    const p3 = Math.exp(scores[3 * keys + j]! - max3);
    total0 += p0;
    total1 += p1;
    total2 += p2;
    total3 += p3;
    for (let c = 0; c < d; c++) {
      const vc = v[vOff + c]!;
      acc[c]! += p0 * vc;
      acc[d + c]! += p1 * vc;
      acc[2 * d + c]! += p2 * vc;
      acc[3 * d + c]! += p3 * vc;
    }
  }
  const inv0 = dead0 ? 0 : 1 / total0;
  const inv1 = dead1 ? 0 : 1 / total1;
  const inv2 = dead2 ? 0 : 1 / total2;
  const inv3 = dead3 ? 0 : 1 / total3;
  for (let c = 0; c < d; c++) {
    out[q0 + c] = acc[c]! * inv0;
    out[q1 + c] = acc[d + c]! * inv1;
    out[q2 + c] = acc[2 * d + c]! * inv2;
    out[q3 + c] = acc[3 * d + c]! * inv3;
  }
}

/** One query row, as `attendFourRows` (the last Tq mod 4 rows, and Tq < 4 such as an attention pool's Tq = 1). */
function attendRow(head: Head, rowBase: number, i: number, { scores, acc }: AttentionScratch): void {
  const { q, k, v, mask, out, kvBase, msK, keys, d, scale, causal } = head;
  const qOff = (rowBase + i) * d;
  const mOff = head.maskBase + i * head.msQ;
  const keyEnd = causal ? Math.min(keys, i + 1) : keys;
  let rowMax = -Infinity;
  for (let j = 0, kOff = kvBase; j < keyEnd; j++, kOff += d) {
    let dot = 0;
    for (let c = 0; c < d; c++) dot += q[qOff + c]! * k[kOff + c]!;
    const s = (scores[j] = Math.fround(mask === undefined ? dot * scale : dot * scale + mask[mOff + j * msK]!));
    if (s > rowMax || s !== s) rowMax = s;
  }
  if (rowMax === -Infinity) {
    out.fill(0, qOff, qOff + d);
    return;
  }
  acc.fill(0, 0, d);
  let total = 0;
  for (let j = 0, vOff = kvBase; j < keyEnd; j++, vOff += d) {
    const p = Math.exp(scores[j]! - rowMax);
    total += p;
    for (let c = 0; c < d; c++) acc[c]! += p * v[vOff + c]!;
  }
  const inv = 1 / total;
  for (let c = 0; c < d; c++) out[qOff + c] = acc[c]! * inv;
}
