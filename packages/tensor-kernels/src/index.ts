/**
 * @proj/tensor-kernels — fused kernels for the operations CLIP and unCLIP spend their time in, behind one op API.
 * Each op runs our kernel on the active backend when `@proj/tensor-kernels/register` has registered one, and
 * the plain tfjs composition otherwise.
 */

// Ops
export { layerNorm, layerNormReference, LayerNorm } from "./ops/layer-norm.js";
export type { LayerNormAttrs, LayerNormInputs, LayerNormOptions } from "./ops/layer-norm.js";

export { groupNorm, groupNormReference, GroupNorm } from "./ops/group-norm.js";
export type { GroupNormActivation, GroupNormAttrs, GroupNormInputs, GroupNormOptions } from "./ops/group-norm.js";
export { GroupNormGrad } from "./ops/group-norm-grad.js";
export type { GroupNormGradInputs } from "./ops/group-norm-grad.js";

export { linear, linearReference, Linear, LinearNoBias } from "./ops/linear.js";
export type { LinearActivation, LinearAttrs, LinearInputs, LinearOptions } from "./ops/linear.js";
export { ACTIVATIONS, erf, gelu, quickGelu, silu } from "./ops/activations.js";
export type { Activation } from "./ops/activations.js";

export { attention, attentionReference, Attention, MaskedAttention } from "./ops/attention.js";
export type { AttentionAttrs, AttentionInputs, AttentionOptions, MaskedAttentionInputs } from "./ops/attention.js";
export { qkvAttention, qkvAttentionReference, QkvAttention } from "./ops/qkv-attention.js";
export type { QkvAttentionAttrs, QkvAttentionInputs, QkvAttentionOptions } from "./ops/qkv-attention.js";

// Training: optimizer, schedule, clipping and weight averaging (no model knowledge)
export { AdamW, defaultWeightDecayMask } from "./training/adamw.js";
export type { AdamWOptions, OptimizerState } from "./training/adamw.js";
export { cosineSchedule } from "./training/cosine-schedule.js";
export type { CosineScheduleOptions } from "./training/cosine-schedule.js";
export { clipGradNorm } from "./training/grad-norm.js";
export type { ClippedGradients } from "./training/grad-norm.js";
export { ExponentialMovingAverage } from "./training/exponential-moving-average.js";
export type { ExponentialMovingAverageOptions } from "./training/exponential-moving-average.js";

// Dispatch and backends
export { hasKernel } from "./ops/dispatch.js";
export { setupBackend } from "./setup-backend.js";
export type { BackendName, SetupBackendOptions } from "./setup-backend.js";
