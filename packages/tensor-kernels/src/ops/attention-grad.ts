/**
 * Gradient of attention, recomputing P instead of saving it (the FlashAttention backward, Dao et al. 2022, Appendix B.2):
 *   S = scale · Q Kᵀ + mask (+ causal),   P = softmax(S),   O = P V,   dO the incoming gradient:
 *   dV = Pᵀ dO,   dP = dO Vᵀ,   dS = P ⊙ (dP − rowsum(dP ⊙ P)),
 *   dQ = scale · dS K,   dK = scale · dSᵀ Q,   dmask = dS summed down to the mask's broadcast shape.
 * Rows whose scores are all −∞ have P = 0 (see attention.ts), hence zero gradients.
 *
 * Backends with an `AttentionGrad` kernel (native: per (batch, head) the five products and the softmax in one
 * task, P never leaving the thread's scratch) give dQ, dK and dV from one kernel call; the mask's gradient, when
 * the mask is differentiated at all, is then composed from the formulas above. Others compose everything.
 */
import { engine, matMul, mul, scalar, sub, sum } from "@tensorflow/tfjs-core";
import type { GradConfig, NamedAttrMap, NamedTensorMap, Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { Attention, attentionProbabilities, MaskedAttention, sumToShape, type AttentionAttrs } from "./attention.js";
import { hasKernel } from "./dispatch.js";

/** (dy, q, k, v) → [dq, dk, dv]; attrs as Attention's. */
export const AttentionGrad = "ProjAttentionGrad";
/** (dy, q, k, v, mask) → [dq, dk, dv]; attrs as Attention's. */
export const MaskedAttentionGrad = "ProjMaskedAttentionGrad";

export interface AttentionGradInputs {
  dy: TensorInfo; // [B, H, Tq, D]
  q: TensorInfo; // [B, H, Tq, D]
  k: TensorInfo; // [B, H, Tk, D]
  v: TensorInfo; // [B, H, Tk, D]
  mask?: TensorInfo; // broadcastable to [B, H, Tq, Tk]; MaskedAttentionGrad only
}

/** The gradient closures for q, k, v (and mask) from dO and the saved inputs; also used by qkvAttention's gradient. */
export function attentionGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): Record<string, () => Tensor> {
  const [q, k, v, mask] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
  const { scale, causal } = attrs as unknown as AttentionAttrs;
  const dO = dy as Tensor; // [B, H, Tq, D]
  const fused = mask === undefined ? AttentionGrad : MaskedAttentionGrad;
  if (hasKernel(fused)) {
    const inputs: NamedTensorMap = mask === undefined ? { dy: dO, q, k, v } : { dy: dO, q, k, v, mask };
    const [dq, dk, dv] = engine().runKernel(fused, inputs, { ...attrs }) as Tensor[];
    const grads: Record<string, () => Tensor> = { q: () => dq!, k: () => dk!, v: () => dv! };
    if (mask !== undefined) grads.mask = () => sumToShape(scoreGradients(dO, q, k, v, scale, causal, mask).dS, mask.shape);
    return grads;
  }
  // These run inside the engine's gradient tidy; the closures below share them.
  const { p, dS } = scoreGradients(dO, q, k, v, scale, causal, mask);
  const grads: Record<string, () => Tensor> = {
    q: () => mul(matMul(dS, k), scalar(scale)), // [B, H, Tq, D]
    k: () => mul(matMul(dS, q, true, false), scalar(scale)), // [B, H, Tk, D]
    v: () => matMul(p, dO, true, false), // [B, H, Tk, D]
  };
  if (mask !== undefined) grads.mask = () => sumToShape(dS, mask.shape);
  return grads;
}

/** P and the scores' gradient dS = P ⊙ (dP − rowsum(dP ⊙ P)), dP = dO Vᵀ, as tfjs ops: both [B, H, Tq, Tk]. */
function scoreGradients(dO: Tensor, q: Tensor, k: Tensor, v: Tensor, scale: number, causal: boolean, mask?: Tensor): { p: Tensor; dS: Tensor } {
  const p = attentionProbabilities(q, k, scale, causal, mask);
  const dP = matMul(dO, v, false, true);
  return { p, dS: mul(p, sub(dP, sum(mul(dP, p), -1, true))) };
}

export const attentionGradConfig: GradConfig = {
  kernelName: Attention,
  inputsToSave: ["q", "k", "v"],
  gradFunc: attentionGrad,
};

export const maskedAttentionGradConfig: GradConfig = {
  kernelName: MaskedAttention,
  inputsToSave: ["q", "k", "v", "mask"],
  gradFunc: attentionGrad,
};
