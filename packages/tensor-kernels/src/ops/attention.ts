/**
 * attention(q, k, v, { causal, mask, scale }): scaled dot-product attention (Vaswani et al. 2017, §3.2.1; the
 * semantics of PyTorch's `F.scaled_dot_product_attention`):
 *   S = scale · Q Kᵀ + mask (+ causal),   P = softmax(S) over the keys,   O = P V.
 * q: [B, H, Tq, D]; k, v: [B, H, Tk, D]; O: [B, H, Tq, D]. Tq and Tk may differ (CLIP's attention pool has Tq = 1).
 *
 * - `scale` defaults to 1/√D.
 * - `causal`: query i sees keys j ≤ i, i.e. the mask is `tril(ones(Tq, Tk))`, aligned at the top left as in PyTorch's
 *   `is_causal=True` (with Tq < Tk the last Tk − Tq keys are seen by no query; it is not the bottom-right alignment
 *   of a KV-cache decoder).
 * - `mask`: an ADDITIVE float32 mask (0 keeps a score, a large negative number or −∞ drops it, e.g. padding),
 *   broadcast to the scores [B, H, Tq, Tk] by NumPy rules: rank 1–4, right-aligned, each axis 1 or full
 *   (`[Tq, Tk]`, `[B, 1, 1, Tk]` for key padding, `[B, H, Tq, Tk]`, …).
 * - A row whose scores are all −∞ (every key dropped by −∞ mask entries) gives an output row of ZEROS (and zero
 *   gradients), not the NaN of a plain softmax. With finite large-negative masks (−1e9, −3.4e38) the softmax is just
 *   computed, as in PyTorch: the float32 score scale·q·k − 1e9 rounds to −1e9, so a row whose keys are all masked
 *   that way averages the values. (Causal alone never empties a row: query i always sees key 0.)
 * - Kernels: `cpu` fused host loops, `wasm` per-head XNNPACK GEMMs or the batched composition by size, `webgpu` a
 *   FlashAttention-style tiled kernel (D ≤ 512; larger D uses the composition). Elsewhere: the composition.
 */
import { add, div, exp, getBackend, matMul, max, maximum, mul, reshape, scalar, sub, sum, tensor, tidy } from "@tensorflow/tfjs-core";
import type { Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { assertFloat, assertPositiveFinite, assertRank, assertTensor } from "./checks.js";
import { runOrCompose } from "./dispatch.js";

/** The kernel without a mask: inputs `q`, `k`, `v`. */
export const Attention = "ProjAttention";
/** The same kernel with an additive mask: inputs `q`, `k`, `v`, `mask` (a separate name, because a GradConfig's
 * saved inputs cannot be optional). */
export const MaskedAttention = "ProjMaskedAttention";

export interface AttentionInputs {
  q: TensorInfo; // [B, H, Tq, D]
  k: TensorInfo; // [B, H, Tk, D]
  v: TensorInfo; // [B, H, Tk, D]
}

export interface MaskedAttentionInputs extends AttentionInputs {
  mask: TensorInfo; // broadcastable to [B, H, Tq, Tk]
}

export interface AttentionAttrs {
  /** Multiplies Q Kᵀ; 1/√D unless given. */
  scale: number;
  /** Query i attends to keys j ≤ i only (top-left aligned). */
  causal: boolean;
}

export interface AttentionOptions {
  causal?: boolean;
  /** Additive, broadcastable to [B, H, Tq, Tk]; null or undefined for none. */
  mask?: Tensor | null;
  scale?: number;
}

/**
 * Head sizes above which a backend's kernel is not used (the op falls back to the composition): the WebGPU kernel
 * keeps a query row and its accumulator in registers, so D is bounded.
 */
export const KERNEL_MAX_HEAD_SIZE: Readonly<Record<string, number>> = { webgpu: 512 };

export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const op = "attention";
  assertTensor(op, "q", q);
  assertTensor(op, "k", k);
  assertTensor(op, "v", v);
  for (const [name, t] of [["q", q], ["k", k], ["v", v]] as const) {
    assertRank(op, name, t, 4);
    assertFloat(op, name, t);
    if (t.size === 0) throw new RangeError(`${op}: ${name} must not be empty, got shape [${t.shape.join(", ")}]`);
  }
  const [batch, heads, queries, headSize] = q.shape as [number, number, number, number];
  const keys = k.shape[2]!;
  if (k.shape[0] !== batch || k.shape[1] !== heads || k.shape[3] !== headSize) {
    throw new RangeError(
      `${op}: k must have shape [B, H, Tk, D] = [${batch}, ${heads}, Tk, ${headSize}] (batch, heads and head size of q), got [${k.shape.join(", ")}]`,
    );
  }
  if (v.shape.some((d, i) => d !== k.shape[i])) {
    const what = v.shape[2] !== keys ? ` (k has ${keys} keys, v has ${v.shape[2]} values)` : "";
    throw new RangeError(`${op}: v must have the shape of k [${k.shape.join(", ")}]${what}, got [${v.shape.join(", ")}]`);
  }
  const { causal = false } = options;
  const mask = options.mask ?? undefined;
  if (typeof causal !== "boolean") throw new TypeError(`${op}: causal must be a boolean, got ${typeof causal}`);
  const scale = options.scale ?? 1 / Math.sqrt(headSize);
  assertPositiveFinite(op, "scale", scale);
  if (mask !== undefined) {
    assertTensor(op, "mask", mask);
    if (mask.dtype !== "float32") {
      throw new TypeError(`${op}: mask must be float32 (an additive mask: 0 keeps a score, −∞ or a large negative number drops it), got ${mask.dtype}`);
    }
    maskStrides(mask.shape, [batch, heads, queries, keys]); // throws if not broadcastable
  }
  const attrs: AttentionAttrs = { scale, causal };
  const compose = () => attentionReference(q, k, v, { causal, mask, scale });
  const limit = KERNEL_MAX_HEAD_SIZE[getBackend()];
  if (limit !== undefined && headSize > limit) return compose();
  return mask === undefined
    ? runOrCompose(Attention, { q, k, v }, { ...attrs }, compose)
    : runOrCompose(MaskedAttention, { q, k, v, mask }, { ...attrs }, compose);
}

/**
 * Element strides of `maskShape` read as the scores [B, H, Tq, Tk] (NumPy broadcasting: right-aligned, 0 on
 * broadcast axes). Throws a RangeError naming both shapes when the mask does not broadcast.
 */
export function maskStrides(maskShape: readonly number[], scoresShape: readonly number[]): [number, number, number, number] {
  const rank = maskShape.length;
  const fits = rank >= 1 && rank <= 4 && maskShape.every((d, i) => d === 1 || d === scoresShape[4 - rank + i]);
  if (!fits) {
    throw new RangeError(
      `attention: mask of shape [${maskShape.join(", ")}] is not broadcastable to the scores [B, H, Tq, Tk] = [${scoresShape.join(", ")}]: ` +
        "give rank 1–4, right-aligned, each axis 1 or equal (e.g. [Tq, Tk] or [B, 1, 1, Tk])",
    );
  }
  const strides: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = rank - 1, stride = 1; i >= 0; i--) {
    const d = maskShape[i]!;
    if (d !== 1) strides[4 - rank + i] = stride;
    stride *= d;
  }
  return strides;
}

/** The scores S = scale · Q Kᵀ + mask, with −∞ above the diagonal when causal: [B, H, Tq, Tk]. */
export function attentionScores(q: Tensor, k: Tensor, scale: number, causal: boolean, mask?: Tensor): Tensor {
  return tidy(() => {
    let scores = mul(matMul(q, k, false, true), scalar(scale)); // [B, H, Tq, Tk]
    if (mask !== undefined) scores = add(scores, mask);
    if (causal) scores = add(scores, causalBias(q.shape[2]!, k.shape[2]!));
    return scores;
  });
}

/** [Tq, Tk]: 0 where key j ≤ query i, −∞ above the diagonal (top-left aligned, like `tril(ones(Tq, Tk))`). */
function causalBias(queries: number, keys: number): Tensor {
  const bias = new Float32Array(queries * keys);
  for (let i = 0; i < queries; i++) bias.fill(-Infinity, i * keys + Math.min(i + 1, keys), (i + 1) * keys);
  return tensor(bias, [queries, keys]);
}

/** The lowest finite float32. */
const LOWEST_FLOAT32 = -3.4028234663852886e38;

/**
 * softmax over the last axis, except that a row whose entries are all −∞ gives zeros instead of NaN (see the
 * header): exp(S − m) / Σ with the row max m clamped to the lowest finite float, so such a row is exp(−∞) = 0 over
 * a sum of 0 (divided by max(Σ, 1e-30); a live row has Σ ≥ 1). Written with plain differentiable ops (no boolean
 * masks, which tfjs cannot differentiate through), so its autodiff is an independent check of the gradient.
 */
export function maskedSoftmax(scores: Tensor): Tensor {
  return tidy(() => {
    const rowMax = maximum(max(scores, -1, true), scalar(LOWEST_FLOAT32)); // [..., 1]
    const e = exp(sub(scores, rowMax));
    return div(e, maximum(sum(e, -1, true), scalar(1e-30)));
  });
}

/** P = softmax(S) of the header, [B, H, Tq, Tk] (recomputed by the gradient). */
export function attentionProbabilities(q: Tensor, k: Tensor, scale: number, causal: boolean, mask?: Tensor): Tensor {
  return tidy(() => maskedSoftmax(attentionScores(q, k, scale, causal, mask)));
}

/**
 * The plain tfjs composition (batched matMul, softmax, matMul): the fallback on backends without the kernel, and the
 * reference in tests. Takes the op's options without checking them.
 */
export function attentionReference(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const scale = options.scale ?? 1 / Math.sqrt(q.shape[3]!);
  return tidy(() => matMul(attentionProbabilities(q, k, scale, options.causal ?? false, options.mask ?? undefined), v));
}

/** Sums `grad` (shaped like the scores) down to the broadcast `shape` it came from. */
export function sumToShape(grad: Tensor, shape: readonly number[]): Tensor {
  return tidy(() => {
    const lead = grad.rank - shape.length;
    const axes: number[] = [];
    for (let i = 0; i < grad.rank; i++) if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i);
    return reshape(axes.length > 0 ? sum(grad, axes) : grad, shape.slice());
  });
}
