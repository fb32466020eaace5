/**
 * Sampling loops: the decoder (CLIP image embedding → 32×32 or 64×64 image), the optional 2× upsampler, and the
 * prior (CLIP text embedding → CLIP image embedding). Each is a short numbered script over a scheduler, as
 * diffusers' pipelines are (../shared/CONVENTIONS.md, rule 8); schedulers hold no tensors, the loop does.
 *
 * Conventions shared with the trainers (train-decoder.ts, train-prior.ts), so a model trained here samples right:
 * - Images live in [−1, 1] inside the diffusion (x_0 = 2·pixels − 1) and come out of `sample` as [0, 1].
 * - CLIP embeddings are L2-normalised and scaled to unit variance per component (`conditioningEmbeddings`: √E · ẑ)
 *   before they condition anything, so that their projection starts on the scale of the timestep embedding.
 * - The prior diffuses image embeddings scaled to unit variance per component: x_0 = √E · ẑ_i (DALLE2-pytorch's
 *   `image_embed_scale`), so that the noise and the signal have the same scale; its output is normalised again.
 * - Both use a 1000-step cosine schedule (`DECODER_SCHEDULE`, `PRIOR_SCHEDULE`), sampled with DDIM ("trailing"
 *   spacing, so the first step starts from pure noise at t = 999).
 *
 * Classifier-free guidance (Ho & Salimans 2022; unCLIP §2.1): conditional and unconditional predictions come from one
 * batched forward pass ([cond; uncond], the second half with the learned null embedding), mixed as
 *   ε̃ = ε_u + s · (ε_c − ε_u)      s = guidanceScale (1: no guidance, 0: unconditional).
 */
import * as tf from "@tensorflow/tfjs-core";
import { DDIMScheduler, type DDIMSchedulerOptions } from "./ddim-scheduler.js";
import type { DDPMScheduler } from "./ddpm-scheduler.js";
import type { DiffusionPrior } from "./diffusion-prior.js";
import { RandomGenerator } from "./random.js";
import type { UNet } from "./unet.js";

/** The diffusion schedule of the decoder and the upsampler (training and sampling). */
export const DECODER_SCHEDULE: Readonly<DDIMSchedulerOptions> = Object.freeze({
  numTrainTimesteps: 1000,
  betaSchedule: "squaredcos_cap_v2",
  clipSample: true, // x̂_0 clamped to the image range [−1, 1]
  timestepSpacing: "trailing",
});

/** The diffusion schedule of the prior: it predicts x̂_0 (the clean embedding) directly, unclamped. */
export const PRIOR_SCHEDULE: Readonly<DDIMSchedulerOptions> = Object.freeze({
  numTrainTimesteps: 1000,
  betaSchedule: "squaredcos_cap_v2",
  predictionType: "sample",
  clipSample: false,
  timestepSpacing: "trailing",
});

export type Scheduler = DDIMScheduler | DDPMScheduler;

/** What a progress callback hears after each denoising step. */
export interface SampleProgress {
  stage: "prior" | "decoder" | "upsampler";
  /** 1-based step within the stage, and the number of steps of the stage. */
  step: number;
  of: number;
  /** The training-schedule timestep just denoised. */
  timestep: number;
  /**
   * The current prediction of the clean result: images [N, H, W, 3] in [0, 1] (decoder, upsampler) or normalised
   * embeddings [N, E] (prior). Computed only when called; the caller owns (and disposes) the tensor.
   */
  preview(): tf.Tensor;
}

export interface CommonSampleOptions {
  /** Denoising steps (default 25). */
  numInferenceSteps?: number;
  /**
   * Classifier-free guidance scale s ≥ 0 (1 turns guidance off). Default: the decoder's `samplingDefaults.guidanceScale`
   * from its checkpoint, else 3; the prior's 1.5.
   */
  guidanceScale?: number;
  /** DDIM's η ≥ 0 (default 0, deterministic given the initial noise). */
  eta?: number;
  /** Seed of the initial noise and of every stochastic step (default 0). Same seed ⇒ same result on a backend. */
  seed?: number;
  /** Called after every step; may return a promise (awaited). */
  onProgress?: (progress: SampleProgress) => void | Promise<void>;
  /** Aborting rejects the call with an `AbortError` between two steps, leaking nothing. */
  signal?: AbortSignal;
  /** A scheduler to use instead of DDIM over the model's schedule (its `setTimesteps` is called). */
  scheduler?: Scheduler;
}

export interface SampleOptions extends CommonSampleOptions {
  /** [N, E] CLIP image embeddings (normalised here). */
  imageEmbeddings: tf.Tensor2D;
  /** Initial noise x_T [N, H, W, C] (default: drawn from `seed`); `interpolate` and `animate` share one. */
  noise?: tf.Tensor4D;
  /** A 2× upsampler to run on the decoder's output (no guidance; its own steps, default 10). */
  upsampler?: UNet;
  upsamplerSteps?: number;
  /** The upsampler's initial noise [N, 2H, 2W, C] (default: drawn from `seed`); shared frames share it too. */
  upsamplerNoise?: tf.Tensor4D;
}

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

/** What conditions the decoder and the prior: √E · ẑ, the normalised embedding at unit variance per component. */
export function conditioningEmbeddings(embeddings: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(normalizeEmbeddings(embeddings), Math.sqrt(embeddings.shape[1])));
}

/** Rows divided by their L2 norm. */
export function normalizeEmbeddings(embeddings: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(embeddings, tf.maximum(tf.norm(embeddings, 2, 1, true), 1e-12)));
}

/** An `AbortError` (a DOMException, as fetch and streams throw). */
export function abortError(signal: AbortSignal | undefined, what: string): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  return new DOMException(`${what} was aborted`, "AbortError");
}

/** Throws an AbortError when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

/** Lets the event loop run (abort events, UI) between two steps. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

export function checkStepOptions(what: string, options: CommonSampleOptions, defaultGuidance: number): { steps: number; guidance: number; eta: number; seed: number } {
  const steps = options.numInferenceSteps ?? 25;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`${what}: numInferenceSteps must be a positive integer, got ${steps}`);
  const guidance = options.guidanceScale ?? defaultGuidance;
  if (typeof guidance !== "number" || !Number.isFinite(guidance) || guidance < 0) {
    throw new RangeError(`${what}: guidanceScale must be a finite number ≥ 0, got ${guidance}`);
  }
  const eta = options.eta ?? 0;
  if (typeof eta !== "number" || !Number.isFinite(eta) || eta < 0) throw new RangeError(`${what}: eta must be a finite number ≥ 0, got ${eta}`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${what}: seed must be an integer, got ${seed}`);
  return { steps, guidance, eta, seed };
}

function checkEmbeddings(what: string, name: string, embeddings: tf.Tensor, width: number): void {
  if (!(embeddings instanceof tf.Tensor) || embeddings.rank !== 2) {
    throw new TypeError(`${what}: ${name} must be a [N, ${width}] tensor, got ${embeddings instanceof tf.Tensor ? `[${embeddings.shape.join(", ")}]` : typeof embeddings}`);
  }
  if (embeddings.shape[1] !== width) {
    throw new RangeError(`${what}: ${name} have width ${embeddings.shape[1]}, but the model was trained on CLIP embeddings of width ${width}`);
  }
  if (embeddings.shape[0] === 0) throw new RangeError(`${what}: ${name} is empty (0 rows)`);
}

/** Throws when any value is NaN or ±∞ (reads the tensor back). */
async function checkFinite(what: string, name: string, t: tf.Tensor): Promise<void> {
  const bad = tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(t))));
  const [flag] = await bad.data();
  bad.dispose();
  if (flag) throw new RangeError(`${what}: ${name} contains NaN or infinite values`);
}

function schedulerFor(model: { config: { predictionType: string } } | undefined, given: Scheduler | undefined, base: Readonly<DDIMSchedulerOptions>): Scheduler {
  if (given !== undefined) return given;
  const predictionType = (model?.config.predictionType ?? base.predictionType ?? "epsilon") as DDIMSchedulerOptions["predictionType"];
  return new DDIMScheduler({ ...base, predictionType });
}

/** [N, ...] → [2N, ...] (the batch twice: conditional rows, then unconditional). */
const twice = <T extends tf.Tensor>(x: T): T => tf.concat([x, x], 0) as T;

/** ε̃ = ε_u + s·(ε_c − ε_u) from a [2N, ...] prediction. */
function guide<T extends tf.Tensor>(output: T, n: number, scale: number): T {
  const [cond, uncond] = tf.split(output, [n, n], 0) as [T, T];
  return tf.add(uncond, tf.mul(tf.sub(cond, uncond), scale)) as T;
}

const toUnitRange = (x: tf.Tensor): tf.Tensor4D => tf.tidy(() => tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as tf.Tensor4D);

// ---------------------------------------------------------------------------------------------------------------------
// Decoder (+ upsampler)

/**
 * The decoder guidance `sample` uses when no `guidanceScale` is given: the decoder's recommended scale
 * (`samplingDefaults.guidanceScale`, from its checkpoint), else 3. For callers that report the scale they sampled at.
 */
export function decoderGuidance(decoder: Pick<UNet, "samplingDefaults">): number {
  return decoder.samplingDefaults.guidanceScale ?? 3;
}

/**
 * Decodes CLIP image embeddings into images: [N, E] → [N, H, W, 3] in [0, 1] (H = the decoder's size, or twice
 * that with `upsampler`). Guided by `guidanceScale` through the decoder's learned null embedding: by default
 * `decoderGuidance(decoder)`.
 */
export async function sample(decoder: UNet, options: SampleOptions): Promise<tf.Tensor4D> {
  const what = "sample";
  // 1. Check inputs.
  const c = decoder.config;
  const { steps, guidance, eta, seed } = checkStepOptions(what, options, decoderGuidance(decoder));
  checkEmbeddings(what, "imageEmbeddings", options.imageEmbeddings, c.clipEmbedDim);
  await checkFinite(what, "imageEmbeddings", options.imageEmbeddings);
  const n = options.imageEmbeddings.shape[0];
  const shape: [number, number, number, number] = [n, c.imageSize, c.imageSize, c.inChannels];
  if (options.noise !== undefined && !tf.util.arraysEqual(options.noise.shape, shape)) {
    throw new RangeError(`${what}: noise has shape [${options.noise.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
  if (options.upsampler !== undefined && options.upsampler.config.lowResSize !== c.imageSize) {
    throw new RangeError(`${what}: the upsampler expects ${options.upsampler.config.lowResSize}×${options.upsampler.config.lowResSize} images, the decoder makes ${c.imageSize}×${c.imageSize}`);
  }
  if (options.upsamplerNoise !== undefined) {
    const u = options.upsampler?.config;
    const expected = u === undefined ? undefined : [n, u.imageSize, u.imageSize, u.inChannels];
    if (expected === undefined || !tf.util.arraysEqual(options.upsamplerNoise.shape, expected)) {
      throw new RangeError(
        `${what}: upsamplerNoise has shape [${options.upsamplerNoise.shape.join(", ")}], expected ${expected === undefined ? "no upsamplerNoise without an upsampler" : `[${expected.join(", ")}]`}`,
      );
    }
  }
  throwIfAborted(options.signal, what);

  // 2. Encode: normalised embeddings; the guided batch is [cond; uncond].
  const generator = new RandomGenerator(seed);
  const embeddings = conditioningEmbeddings(options.imageEmbeddings);
  const guided = guidance !== 1;
  const dropImageEmbedding = guided ? [...new Array<boolean>(n).fill(false), ...new Array<boolean>(n).fill(true)] : undefined;
  const batchEmbeddings = guided ? twice(embeddings) : embeddings;
  try {
    // 3–6. Denoise, then map to [0, 1] (and upsample).
    const low = await denoise<tf.Tensor4D>({
      stage: "decoder",
      shape,
      noise: options.noise,
      steps,
      eta,
      generator,
      scheduler: schedulerFor(decoder, options.scheduler, DECODER_SCHEDULE),
      signal: options.signal,
      onProgress: options.onProgress,
      predict: (x, t) =>
        tf.tidy(() => {
          const input = guided ? twice(x) : x;
          const out = decoder.forward(input, new Array<number>(input.shape[0]).fill(t), { imageEmbeddings: batchEmbeddings, dropImageEmbedding, checkFinite: false });
          return guided ? guide(out, n, guidance) : out;
        }),
    });
    if (options.upsampler === undefined) {
      const images = toUnitRange(low);
      low.dispose();
      return images;
    }
    try {
      return await upsample(options.upsampler, low, {
        steps: options.upsamplerSteps ?? 10,
        noise: options.upsamplerNoise,
        eta,
        generator,
        signal: options.signal,
        onProgress: options.onProgress,
      });
    } finally {
      low.dispose();
    }
  } finally {
    embeddings.dispose();
    if (batchEmbeddings !== embeddings) batchEmbeddings.dispose();
  }
}

/** The upsampler stage: low-resolution images in [−1, 1] → [N, 2H, 2W, 3] in [0, 1]. */
async function upsample(
  upsampler: UNet,
  low: tf.Tensor4D,
  options: { steps: number; noise: tf.Tensor4D | undefined; eta: number; generator: RandomGenerator; signal: AbortSignal | undefined; onProgress: CommonSampleOptions["onProgress"] },
): Promise<tf.Tensor4D> {
  const u = upsampler.config;
  if (!Number.isInteger(options.steps) || options.steps < 1) throw new RangeError(`sample: upsamplerSteps must be a positive integer, got ${options.steps}`);
  const n = low.shape[0];
  const high = await denoise<tf.Tensor4D>({
    stage: "upsampler",
    shape: [n, u.imageSize, u.imageSize, u.inChannels],
    noise: options.noise,
    steps: options.steps,
    eta: options.eta,
    generator: options.generator,
    scheduler: schedulerFor(upsampler, undefined, DECODER_SCHEDULE),
    signal: options.signal,
    onProgress: options.onProgress,
    predict: (x, t) => upsampler.forward(x, new Array<number>(n).fill(t), { lowRes: low, checkFinite: false }),
  });
  const images = toUnitRange(high);
  high.dispose();
  return images;
}

interface DenoiseOptions<T extends tf.Tensor> {
  stage: SampleProgress["stage"];
  shape: number[];
  noise: T | undefined;
  steps: number;
  eta: number;
  generator: RandomGenerator;
  scheduler: Scheduler;
  signal: AbortSignal | undefined;
  onProgress: CommonSampleOptions["onProgress"];
  /** The (guided) model output for x_t at training timestep t; a new tensor. */
  predict: (x: T, t: number) => T;
  /** Maps x̂_0 to what `preview()` returns (default: images in [0, 1]). */
  toPreview?: (x0: T) => tf.Tensor;
}

/** 3.–5. of every pipeline: set timesteps, prepare x_T, and walk the scheduler. Returns x_0 (owned by the caller). */
export async function denoise<T extends tf.Tensor>(o: DenoiseOptions<T>): Promise<T> {
  const what = o.stage === "prior" ? "samplePrior" : "sample";
  // 3. Timesteps.
  o.scheduler.setTimesteps(o.steps);
  const timesteps = o.scheduler.timesteps;
  // 4. Initial noise x_T (σ = 1 for DDIM and DDPM).
  let x = (o.noise !== undefined ? tf.clone(o.noise) : o.generator.normal(o.shape)) as T;
  let x0: T | undefined;
  try {
    // 5. Denoising loop.
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(o.signal, what);
      const t = timesteps[i]!;
      const { prevSample, predOriginalSample } = tf.tidy(() => {
        const output = o.predict(x, t);
        const stepped =
          o.scheduler instanceof DDIMScheduler
            ? o.scheduler.step(output, t, x, { eta: o.eta, generator: o.generator })
            : o.scheduler.step(output, t, x, { generator: o.generator });
        return { prevSample: stepped.prevSample, predOriginalSample: stepped.predOriginalSample };
      });
      x.dispose();
      x0?.dispose();
      x = prevSample as T;
      x0 = predOriginalSample as T;
      if (o.onProgress !== undefined) {
        const current = x0;
        const toPreview = o.toPreview ?? ((v: T) => toUnitRange(v));
        await o.onProgress({ stage: o.stage, step: i + 1, of: timesteps.length, timestep: t, preview: () => toPreview(current) });
      }
      await nextTurn();
    }
    throwIfAborted(o.signal, what);
    return x;
  } catch (error) {
    x.dispose();
    throw error;
  } finally {
    x0?.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Prior

export interface SamplePriorOptions extends CommonSampleOptions {
  /** [N, E] CLIP text embeddings (normalised here). */
  textEmbeddings: tf.Tensor2D;
  /** [N, T, textTokenDim] CLIP text token features, when the prior was trained with them. */
  textTokens?: tf.Tensor3D;
  /** [N, T] 1 for real tokens, 0 for padding. */
  textMask?: tf.Tensor2D;
  /**
   * Candidates drawn per text, keeping the one whose embedding has the highest dot product with the text embedding
   * (unCLIP §2.2; default 2, 1 turns it off).
   */
  candidates?: number;
}

/**
 * Text embeddings → image embeddings: [N, E] → [N, E], L2-normalised. Guided (default scale 1.5) through the
 * prior's learned null text embedding; `candidates` samples per text, the best kept.
 */
export async function samplePrior(prior: DiffusionPrior, options: SamplePriorOptions): Promise<tf.Tensor2D> {
  const what = "samplePrior";
  // 1. Check inputs.
  const E = prior.config.clipEmbedDim;
  const { steps, guidance, eta, seed } = checkStepOptions(what, options, 1.5);
  checkEmbeddings(what, "textEmbeddings", options.textEmbeddings, E);
  await checkFinite(what, "textEmbeddings", options.textEmbeddings);
  const candidates = options.candidates ?? 2;
  if (!Number.isInteger(candidates) || candidates < 1) throw new RangeError(`${what}: candidates must be a positive integer, got ${candidates}`);
  if (options.textTokens !== undefined) await checkFinite(what, "textTokens", options.textTokens);
  throwIfAborted(options.signal, what);

  // 2. Encode: every text repeated `candidates` times (candidate-major), then [cond; uncond] when guided.
  const n = options.textEmbeddings.shape[0];
  const m = n * candidates;
  const guided = guidance !== 1;
  const repeat = <R extends tf.Tensor>(t: R): R => tf.tidy(() => tf.concat(new Array<R>(candidates).fill(t), 0) as R);
  const text = conditioningEmbeddings(options.textEmbeddings);
  const inputs = tf.tidy(() => {
    const embeddings = repeat(text);
    const tokens = options.textTokens === undefined ? undefined : repeat(options.textTokens);
    const mask = options.textMask === undefined ? undefined : repeat(options.textMask);
    return {
      textEmbeddings: guided ? twice(embeddings) : embeddings,
      textTokens: tokens === undefined ? undefined : guided ? twice(tokens) : tokens,
      textMask: mask === undefined ? undefined : guided ? twice(mask) : mask,
    };
  });
  const dropText = guided ? [...new Array<boolean>(m).fill(false), ...new Array<boolean>(m).fill(true)] : undefined;
  const scale = Math.sqrt(E);
  try {
    // 3–5. Denoise in the scaled embedding space.
    const x0 = await denoise<tf.Tensor2D>({
      stage: "prior",
      shape: [m, E],
      noise: undefined,
      steps,
      eta,
      generator: new RandomGenerator(seed),
      scheduler: schedulerFor(undefined, options.scheduler, PRIOR_SCHEDULE),
      signal: options.signal,
      onProgress: options.onProgress,
      predict: (x, t) =>
        tf.tidy(() => {
          const input = guided ? twice(x) : x;
          const out = prior.forward(input, new Array<number>(input.shape[0]).fill(t), { ...inputs, dropText, checkFinite: false });
          return guided ? guide(out, m, guidance) : out;
        }),
      toPreview: (v) => normalizeEmbeddings(v),
    });
    // 6. Normalise and keep the best candidate per text.
    return tf.tidy(() => {
      const z = normalizeEmbeddings(tf.div(x0, scale) as tf.Tensor2D); // [M, E]
      x0.dispose();
      if (candidates === 1) return z;
      const scores = tf.reshape(tf.sum(tf.mul(z, repeat(text)), 1), [candidates, n]); // [K, N]
      const best = tf.argMax(scores, 0); // [N]
      const rows = tf.add(tf.mul(best, tf.scalar(n, "int32")), tf.range(0, n, 1, "int32")); // candidate-major row index
      return tf.gather(z, rows) as tf.Tensor2D;
    });
  } finally {
    text.dispose();
    tf.dispose([inputs.textEmbeddings, inputs.textTokens, inputs.textMask].filter((t) => t !== undefined));
  }
}
