/**
 * qkvAttention(qkv, { heads, causal, scale }): multi-head self-attention straight from a packed input projection, as
 * `nn.MultiheadAttention` computes it after its in_proj (CLIP's residual blocks):
 *   qkv [B, T, 3·D] = [q | k | v] along the last axis, each D = H·Dh wide with head h at columns h·Dh … (h + 1)·Dh,
 *   out [B, T, D] = the heads' attention(q, k, v) (see attention.ts) side by side, head h at columns h·Dh ….
 * The same as `split(qkv, 3, 2)`, each reshaped to [B, T, H, Dh] and transposed to [B, H, T, Dh], `attention`, and the
 * result transposed back to [B, T, H·Dh] — which is what backends without the fused kernel run. The `native` backend
 * reads q, k and v in place from qkv and writes each head's rows straight into out (no split, no transposes: nine
 * tfjs ops and three copies fewer per block). No mask (use `attention` for masks).
 *
 * Gradient: d(qkv) = [dq | dk | dv] in the same layout, through attention's own gradient (its fused kernel where the
 * backend has one).
 */
import { concat, getBackend, reshape, split, tidy, transpose } from "@tensorflow/tfjs-core";
import type { GradConfig, NamedAttrMap, Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { attention, KERNEL_MAX_HEAD_SIZE } from "./attention.js";
import { attentionGrad } from "./attention-grad.js";
import { assertFloat, assertPositiveFinite, assertRank, assertTensor } from "./checks.js";
import { runOrCompose } from "./dispatch.js";

/** The kernel: input `qkv`; attrs QkvAttentionAttrs. Registered by the native backend only. */
export const QkvAttention = "ProjQkvAttention";

export interface QkvAttentionInputs {
  qkv: TensorInfo; // [B, T, 3·H·Dh]
}

export interface QkvAttentionAttrs {
  heads: number;
  /** Multiplies Q Kᵀ; 1/√Dh unless given. */
  scale: number;
  /** Query i attends to keys j ≤ i only. */
  causal: boolean;
}

export interface QkvAttentionOptions {
  heads: number;
  causal?: boolean;
  scale?: number;
}

export function qkvAttention(qkv: Tensor, options: QkvAttentionOptions): Tensor {
  const op = "qkvAttention";
  assertTensor(op, "qkv", qkv);
  assertRank(op, "qkv", qkv, 3);
  assertFloat(op, "qkv", qkv);
  if (qkv.size === 0) throw new RangeError(`${op}: qkv must not be empty, got shape [${qkv.shape.join(", ")}]`);
  const { heads, causal = false } = options ?? ({} as QkvAttentionOptions);
  if (!Number.isInteger(heads) || heads < 1) throw new RangeError(`${op}: heads must be a positive integer, got ${String(heads)}`);
  const packed = qkv.shape[2]!;
  if (packed % (3 * heads) !== 0) {
    throw new RangeError(`${op}: the last axis of qkv (${packed}) must be 3 · heads · head size, a multiple of 3 · ${heads}`);
  }
  if (typeof causal !== "boolean") throw new TypeError(`${op}: causal must be a boolean, got ${typeof causal}`);
  const headSize = packed / (3 * heads);
  const scale = options.scale ?? 1 / Math.sqrt(headSize);
  assertPositiveFinite(op, "scale", scale);
  const attrs: QkvAttentionAttrs = { heads, scale, causal };
  const compose = () => qkvAttentionReference(qkv, attrs);
  const limit = KERNEL_MAX_HEAD_SIZE[getBackend()];
  if (limit !== undefined && headSize > limit) return compose();
  return runOrCompose(QkvAttention, { qkv }, { ...attrs }, compose);
}

/** [B, T, H·Dh] → [B, H, T, Dh]. */
function toHeads(t: Tensor, heads: number): Tensor {
  const [batch, tokens, width] = t.shape as [number, number, number];
  return transpose(reshape(t, [batch, tokens, heads, width / heads]), [0, 2, 1, 3]);
}

/** [B, H, T, Dh] → [B, T, H·Dh]. */
function mergeHeads(t: Tensor): Tensor {
  const [batch, heads, tokens, headSize] = t.shape as [number, number, number, number];
  return reshape(transpose(t, [0, 2, 1, 3]), [batch, tokens, heads * headSize]);
}

/** The composition: split, heads, `attention`, heads merged. The fallback, and the reference in tests. */
export function qkvAttentionReference(qkv: Tensor, attrs: QkvAttentionAttrs): Tensor {
  return tidy(() => {
    const [q, k, v] = split(qkv, 3, 2).map((t) => toHeads(t, attrs.heads)) as [Tensor, Tensor, Tensor];
    return mergeHeads(attention(q, k, v, { causal: attrs.causal, scale: attrs.scale }));
  });
}

function qkvAttentionGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): Record<string, () => Tensor> {
  const [qkv] = saved as [Tensor];
  const { heads, scale, causal } = attrs as unknown as QkvAttentionAttrs;
  // Inside the engine's gradient tidy: q, k, v and dO as [B, H, T, Dh], then attention's gradient.
  const [q, k, v] = split(qkv, 3, 2).map((t) => toHeads(t, heads)) as [Tensor, Tensor, Tensor];
  const grads = attentionGrad(toHeads(dy as Tensor, heads), [q, k, v], { scale, causal });
  return { qkv: () => concat([mergeHeads(grads.q!()), mergeHeads(grads.k!()), mergeHeads(grads.v!())], 2) };
}

export const qkvAttentionGradConfig: GradConfig = {
  kernelName: QkvAttention,
  inputsToSave: ["qkv"],
  gradFunc: qkvAttentionGrad,
};
