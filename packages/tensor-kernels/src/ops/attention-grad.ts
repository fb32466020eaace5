/**
 * Gradient of attention, recomputing P instead of saving it (the FlashAttention backward, Dao et al. 2022, Appendix B.2):
 *   S = scale · Q Kᵀ + mask (+ causal),   P = softmax(S),   O = P V,   dO the incoming gradient:
 *   dV = Pᵀ dO,   dP = dO Vᵀ,   dS = P ⊙ (dP − rowsum(dP ⊙ P)),
 *   dQ = scale · dS K,   dK = scale · dSᵀ Q,   dmask = dS summed down to the mask's broadcast shape.
 * Rows whose scores are all −∞ have P = 0 (see attention.ts), hence zero gradients.
 */
import { matMul, mul, scalar, sub, sum } from "@tensorflow/tfjs-core";
import type { GradConfig, NamedAttrMap, Tensor } from "@tensorflow/tfjs-core";
import { Attention, attentionProbabilities, MaskedAttention, sumToShape, type AttentionAttrs } from "./attention.js";

function attentionGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): Record<string, () => Tensor> {
  const [q, k, v, mask] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
  const { scale, causal } = attrs as unknown as AttentionAttrs;
  const dO = dy as Tensor; // [B, H, Tq, D]
  // These run inside the engine's gradient tidy; the closures below share them.
  const p = attentionProbabilities(q, k, scale, causal, mask); // [B, H, Tq, Tk]
  const dP = matMul(dO, v, false, true); // [B, H, Tq, Tk]
  const dS = mul(p, sub(dP, sum(mul(dP, p), -1, true))); // [B, H, Tq, Tk]
  const grads: Record<string, () => Tensor> = {
    q: () => mul(matMul(dS, k), scalar(scale)), // [B, H, Tq, D]
    k: () => mul(matMul(dS, q, true, false), scalar(scale)), // [B, H, Tk, D]
    v: () => matMul(p, dO, true, false), // [B, H, Tk, D]
  };
  if (mask !== undefined) grads.mask = () => sumToShape(dS, mask.shape);
  return grads;
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
