/**
 * The decoder / upsampler U-Net's configuration (the hyper-parameters of guided-diffusion's `UNetModel`, with GLIDE's
 * context width and unCLIP's CLIP conditioning) and frozen presets.
 *
 * Sizes: TINY_* are for tests (train in seconds); SMALL_* are the embedded defaults, sized so that sampling a 64×64
 * image (SMALL_DECODER at 32×32, 25 steps with guidance = batch 2, then SMALL_UPSAMPLER 32→64) stays well under 10 s on
 * the wasm backend of a 2-core machine (see README / the report for measured times).
 */

export type PredictionType = "epsilon" | "v_prediction";

export interface UNetConfig {
  /** Side of the square images the U-Net denoises (x_t is [B, imageSize, imageSize, inChannels]). An upsampler also
   * takes square crops of any side that the levels divide, with a low-resolution crop of the same scale. */
  imageSize: number;
  /** Channels of x_t (3 for RGB). */
  inChannels: number;
  /** Channels of the prediction (ε or v), normally = inChannels. */
  outChannels: number;
  /** Upsampler: channels of the low-resolution conditioning image, bilinearly upsampled to imageSize and
   * concatenated to x_t on the channel axis (unCLIP §2, the ADM super-resolution models); 0 for the decoder. */
  lowResChannels: number;
  /** Upsampler: side of the low-resolution image it expects (e.g. imageSize / 2); 0 for the decoder. */
  lowResSize: number;
  /** Base channel count C; the timestep embedding is 4C wide. */
  modelChannels: number;
  /** Channels per resolution level as multiples of C; one downsampling between consecutive levels. */
  channelMult: readonly number[];
  /** Residual blocks per level on the way down (the way up has one more, as in guided-diffusion). */
  numResBlocks: number;
  /** Feature-map sides (e.g. [16, 8]) at which blocks get self-attention; the middle block always has it. */
  attentionResolutions: readonly number[];
  /** Channels per attention head. */
  headChannels: number;
  /** GroupNorm groups (32 in the paper's models; must divide every channel count). */
  groups: number;
  /** Scale-shift (FiLM) conditioning of the second GroupNorm in every residual block (Nichol & Dhariwal 2021). */
  useScaleShiftNorm: boolean;
  /** Width E of the CLIP image embedding the decoder is conditioned on; 0 for none (the paper's upsamplers). */
  clipEmbedDim: number;
  /** Extra context tokens projected from the CLIP image embedding (4 in unCLIP). */
  clipTokens: number;
  /** Width of the context tokens the attention blocks attend to (GLIDE's xf_width); 0 without context. */
  contextDim: number;
  /** Width of the CLIP text encoder's token features for optional text conditioning; 0 for none. */
  textTokenDim: number;
  /** Most text tokens accepted (CLIP's context length). */
  maxTextTokens: number;
  /** What the output means; the scheduler's `predictionType` must agree. */
  predictionType: PredictionType;
}

const freezeConfig = (config: UNetConfig): Readonly<UNetConfig> =>
  Object.freeze({ ...config, channelMult: Object.freeze([...config.channelMult]), attentionResolutions: Object.freeze([...config.attentionResolutions]) });

/** Tests: 16×16, C = 8 (8/16 channels at 16/8), attention at 8×8; CLIP embeddings of width 32. */
export const TINY_DECODER: Readonly<UNetConfig> = freezeConfig({
  imageSize: 16,
  inChannels: 3,
  outChannels: 3,
  lowResChannels: 0,
  lowResSize: 0,
  modelChannels: 8,
  channelMult: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [8],
  headChannels: 8,
  groups: 4,
  useScaleShiftNorm: true,
  clipEmbedDim: 32,
  clipTokens: 4,
  contextDim: 16,
  textTokenDim: 0,
  maxTextTokens: 77,
  predictionType: "v_prediction",
});

/**
 * The embedded default decoder: 32×32, C = 32 (32/64/64 channels at 32/16/8), one residual block per level, attention
 * at 8×8 and in the middle; 1.42M parameters. Chosen for training speed on 2 cores (a batch-32 Adam step costs ~5.6 s
 * of CPU on wasm, 1.4× less than two blocks per level or 2.3M parameters at [1, 2, 3]); a guided denoising step
 * (batch 2) ~65 ms of CPU.
 */
export const SMALL_DECODER: Readonly<UNetConfig> = freezeConfig({
  imageSize: 32,
  inChannels: 3,
  outChannels: 3,
  lowResChannels: 0,
  lowResSize: 0,
  modelChannels: 32,
  channelMult: [1, 2, 2],
  numResBlocks: 1,
  attentionResolutions: [8],
  headChannels: 32,
  groups: 8,
  useScaleShiftNorm: true,
  clipEmbedDim: 256,
  clipTokens: 4,
  contextDim: 128,
  textTokenDim: 0,
  maxTextTokens: 77,
  predictionType: "v_prediction", // see README: ε-prediction amplifies early errors at t ≈ T under the cosine schedule
});

/**
 * SMALL_DECODER at twice the width: C = 64 (64/128/128 channels), heads of 64 channels (2 heads as in SMALL_DECODER);
 * 5.08M parameters. `widenUNet` turns a trained SMALL_DECODER into one without changing its output, which is how the
 * embedded decoder v5 started. A batch-32 training step costs ~2.5× SMALL_DECODER's on the native backend (the small
 * model is partly overhead-bound).
 */
export const MEDIUM_DECODER: Readonly<UNetConfig> = freezeConfig({ ...SMALL_DECODER, modelChannels: 64, headChannels: 64 });

/** Tests: 16 → 32 upsampler, unconditioned on CLIP (as the paper's upsamplers). */
export const TINY_UPSAMPLER: Readonly<UNetConfig> = freezeConfig({
  imageSize: 32,
  inChannels: 3,
  outChannels: 3,
  lowResChannels: 3,
  lowResSize: 16,
  modelChannels: 8,
  channelMult: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [],
  headChannels: 16,
  groups: 4,
  useScaleShiftNorm: true,
  clipEmbedDim: 0,
  clipTokens: 0,
  contextDim: 0,
  textTokenDim: 0,
  maxTextTokens: 77,
  predictionType: "v_prediction",
});

/**
 * The embedded default 2× upsampler, 32 → 64: C = 16 (16/32/64 channels at 64/32/16), self-attention only in the
 * middle (16×16); 0.67M parameters, ~65 ms of CPU per step at batch 1 on wasm. Train it on random crops (see
 * `randomCrops` in upsampler.ts; unCLIP trains its upsamplers on crops of ¼ the target size).
 */
export const SMALL_UPSAMPLER: Readonly<UNetConfig> = freezeConfig({
  imageSize: 64,
  inChannels: 3,
  outChannels: 3,
  lowResChannels: 3,
  lowResSize: 32,
  modelChannels: 16,
  channelMult: [1, 2, 4],
  numResBlocks: 1,
  attentionResolutions: [],
  headChannels: 32,
  groups: 8,
  useScaleShiftNorm: true,
  clipEmbedDim: 0,
  clipTokens: 0,
  contextDim: 0,
  textTokenDim: 0,
  maxTextTokens: 77,
  predictionType: "v_prediction", // see README: ε-prediction amplifies early errors at t ≈ T under the cosine schedule
});

const INTEGER_FIELDS = [
  "imageSize", "inChannels", "outChannels", "lowResChannels", "lowResSize", "modelChannels", "numResBlocks", "headChannels",
  "groups", "clipEmbedDim", "clipTokens", "contextDim", "textTokenDim", "maxTextTokens",
] as const;

/** Throws a RangeError naming the first inconsistent field; returns a frozen copy. */
export function validateUNetConfig(config: UNetConfig): Readonly<UNetConfig> {
  const fail = (message: string): never => {
    throw new RangeError(`UNetConfig: ${message}`);
  };
  for (const field of INTEGER_FIELDS) {
    const value = config[field];
    if (!Number.isInteger(value) || value < 0) fail(`${field} must be a non-negative integer, got ${String(value)}`);
  }
  for (const field of ["imageSize", "inChannels", "outChannels", "modelChannels", "numResBlocks", "headChannels", "groups"] as const) {
    if (config[field] === 0) fail(`${field} must be positive`);
  }
  if (!Array.isArray(config.channelMult) || config.channelMult.length === 0 || !config.channelMult.every((m) => Number.isInteger(m) && m > 0)) {
    fail(`channelMult must be a non-empty list of positive integers, got ${JSON.stringify(config.channelMult)}`);
  }
  const levels = config.channelMult.length;
  if (config.imageSize % 2 ** (levels - 1) !== 0) fail(`imageSize ${config.imageSize} is not divisible by 2^${levels - 1} (${levels} levels)`);
  const sizes = config.channelMult.map((_, level) => config.imageSize / 2 ** level);
  for (const r of config.attentionResolutions) {
    if (!sizes.includes(r)) fail(`attentionResolutions entry ${r} is not a feature-map size of this U-Net (${sizes.join(", ")})`);
  }
  config.channelMult.forEach((mult, level) => {
    const channels = mult * config.modelChannels;
    if (channels % config.groups !== 0) fail(`groups ${config.groups} do not divide ${channels} channels`);
    const attends = config.attentionResolutions.includes(sizes[level]!) || level === levels - 1; // the middle block attends
    if (attends && channels % config.headChannels !== 0) fail(`headChannels ${config.headChannels} do not divide the ${channels} channels of an attention block`);
  });
  if ((config.lowResChannels === 0) !== (config.lowResSize === 0)) fail("lowResChannels and lowResSize must both be 0 (decoder) or both positive (upsampler)");
  if (config.lowResSize > config.imageSize) fail(`lowResSize ${config.lowResSize} exceeds imageSize ${config.imageSize}`);
  if (config.clipEmbedDim > 0 && config.clipTokens > 0 && config.contextDim === 0) fail("clipTokens need a contextDim");
  if (config.textTokenDim > 0 && config.contextDim === 0) fail("text conditioning needs a contextDim");
  if (config.predictionType !== "epsilon" && config.predictionType !== "v_prediction") {
    fail(`predictionType must be "epsilon" or "v_prediction", got ${JSON.stringify(config.predictionType)}`);
  }
  return freezeConfig(config);
}

/** A config read back from JSON (a checkpoint's `__metadata__.config`): every field must be present and valid. */
export function unetConfigFromJson(json: unknown): Readonly<UNetConfig> {
  if (typeof json !== "object" || json === null) throw new RangeError("UNetConfig: expected a JSON object");
  const missing = (Object.keys(TINY_DECODER) as (keyof UNetConfig)[]).filter((k) => !(k in json));
  if (missing.length > 0) throw new RangeError(`UNetConfig: missing fields ${missing.join(", ")}`);
  return validateUNetConfig(json as UNetConfig);
}
