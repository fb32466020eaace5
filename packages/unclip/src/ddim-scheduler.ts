/**
 * DDIM sampling (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", arXiv 2010.02502): η = 0 is the
 * deterministic implicit sampler, η = 1 matches DDPM's variance. Config names, defaults and numbers follow diffusers'
 * `DDIMScheduler`, so a config carries across and the float32 results agree.
 *
 * Legend: t ↔ `timestep`; t' = t − ⌊T/n⌋ ↔ `prevTimestep` (as in diffusers, whatever the spacing); ᾱ_t ↔
 * `alphaProd`; ᾱ_t' ↔ `alphaProdPrev` (`finalAlphaCumprod` when t' < 0); σ_t(η) ↔ `stdDev` (eq. 16).
 *
 * The scheduler holds plain arrays only; `step` is the one place that touches tensors, inside `tf.tidy`. The
 * scalar coefficients are rounded to float32 the way diffusers' 0-d float32 tensors are.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  addNoise,
  resolveSchedulerConfig,
  type UNSUPPORTED_SCHEDULER_FLAGS,
  assertSameShape,
  describeTimesteps,
  noiseSchedule,
  predictEpsilon,
  predictOriginalSample,
  spacedTimesteps,
  trainingTarget,
  velocity,
  type NoiseScheduleConfig,
  type PredictionType,
  type SchedulerOutput,
  type TimestepSpacing,
  type TimestepsLike,
} from "./noise-schedule.js";
import { RandomGenerator, stepNoise, type StepNoiseOptions } from "./random.js";

const f32 = Math.fround;

export interface DDIMSchedulerConfig extends NoiseScheduleConfig {
  predictionType: PredictionType;
  /** Clamp x̂_0 to [−clipSampleRange, clipSampleRange] (pixel-space models); off for latents and embeddings. */
  clipSample: boolean;
  clipSampleRange: number;
  /** ᾱ used after the last step (t' < 0): 1 when true, else ᾱ_0. */
  setAlphaToOne: boolean;
  /** Added to every "leading" timestep (some model families were trained with 1). */
  stepsOffset: number;
  timestepSpacing: TimestepSpacing;
}

/** diffusers' defaults for `DDIMScheduler`. */
export const DDIM_SCHEDULER_DEFAULTS: Readonly<DDIMSchedulerConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaSchedule: "linear",
  betaStart: 0.0001,
  betaEnd: 0.02,
  trainedBetas: undefined,
  predictionType: "epsilon",
  clipSample: true,
  clipSampleRange: 1,
  setAlphaToOne: true,
  stepsOffset: 0,
  timestepSpacing: "leading",
});

/** Options of the sibling scheduler, accepted and ignored so one config object can serve both. */
const SIBLING_KEYS = ["varianceType", "dynamicThresholdingRatio", "sampleMaxValue"] as const;

export type DDIMSchedulerOptions = Partial<DDIMSchedulerConfig> &
  Partial<Record<(typeof UNSUPPORTED_SCHEDULER_FLAGS)[number], false>> &
  Partial<Record<(typeof SIBLING_KEYS)[number], unknown>>;

export interface DDIMStepOptions extends StepNoiseOptions {
  /** η ≥ 0: the weight of the fresh noise (0: deterministic DDIM, 1: DDPM's variance). Default 0. */
  eta?: number | undefined;
  /** Re-derive ε̂ from the clipped x̂_0 (as GLIDE does). Default false. */
  useClippedModelOutput?: boolean | undefined;
}

export class DDIMScheduler {
  readonly config: Readonly<DDIMSchedulerConfig>;
  /** β_t, α_t, ᾱ_t for t = 0..T−1 (float32 values). */
  readonly betas: readonly number[];
  readonly alphas: readonly number[];
  readonly alphasCumprod: readonly number[];
  /** ᾱ after the last step: 1, or ᾱ_0 when `setAlphaToOne` is false. */
  readonly finalAlphaCumprod: number;
  /** σ of the initial noise x_T ~ N(0, σ²I). */
  readonly initNoiseSigma = 1;
  /** n after `setTimesteps(n)`; `step` needs it. */
  numInferenceSteps: number | undefined = undefined;
  /** The timesteps to visit, descending. */
  timesteps: number[];
  /** Draws the noise of a step with η > 0 when the caller passes none. */
  generator = new RandomGenerator(0);

  constructor(options: DDIMSchedulerOptions = {}) {
    this.config = Object.freeze(resolveConfig(options));
    const tables = noiseSchedule(this.config);
    this.betas = tables.betas;
    this.alphas = tables.alphas;
    this.alphasCumprod = tables.alphasCumprod;
    this.finalAlphaCumprod = this.config.setAlphaToOne ? 1 : this.alphasCumprod[0]!;
    this.timesteps = Array.from({ length: this.config.numTrainTimesteps }, (_, i) => this.config.numTrainTimesteps - 1 - i);
  }

  /** Choose n timesteps by `config.timestepSpacing` (diffusers' rules); `step` then walks them in order. */
  setTimesteps(numInferenceSteps: number): void {
    const { timestepSpacing, numTrainTimesteps, stepsOffset } = this.config;
    this.timesteps = spacedTimesteps(timestepSpacing, numTrainTimesteps, numInferenceSteps, stepsOffset);
    this.numInferenceSteps = numInferenceSteps;
  }

  /** t' = t − ⌊T/n⌋ (negative after the last step). */
  previousTimestep(timestep: number): number {
    if (this.numInferenceSteps === undefined) {
      throw new Error("DDIMScheduler.step: call setTimesteps(numInferenceSteps) before stepping");
    }
    if (!this.timesteps.includes(timestep)) {
      throw new Error(
        `DDIMScheduler.step: timestep ${timestep} is not one of the ${this.timesteps.length} timesteps set by ` +
          `setTimesteps(${this.numInferenceSteps}) (${describeTimesteps(this.timesteps)})`,
      );
    }
    return timestep - Math.floor(this.config.numTrainTimesteps / this.numInferenceSteps);
  }

  /**
   * One DDIM step x_t → x_t' (Song et al. 2021, eq. 12):
   *   x̂_0 from the model output (clamped when `clipSample`), ε̂ the matching noise,
   *   σ_t = η·√((1−ᾱ_t')/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_t'))                                     (eq. 16)
   *   x_t' = √ᾱ_t'·x̂_0 + √(1−ᾱ_t'−σ_t²)·ε̂ + σ_t·z,  z ~ N(0, I) when η > 0.
   * Returns new tensors shaped like `sample`; the inputs are left alone.
   */
  step<T extends tf.Tensor>(modelOutput: T, timestep: number, sample: T, options: DDIMStepOptions = {}): SchedulerOutput<T> {
    assertSameShape(sample, modelOutput, "DDIMScheduler.step", "sample", "modelOutput");
    const eta = options.eta ?? 0;
    if (typeof eta !== "number" || !Number.isFinite(eta) || eta < 0) {
      throw new Error(`DDIMScheduler.step: eta must be a finite number ≥ 0, got ${eta}`);
    }
    const t = timestep;
    const prevT = this.previousTimestep(t);
    const { predictionType, clipSample, clipSampleRange } = this.config;

    // Scalars, float32 as in diffusers' 0-d tensors.
    const alphaProd = this.alphasCumprod[t]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const betaProd = f32(1 - alphaProd);
    const betaProdPrev = f32(1 - alphaProdPrev);
    const variance = f32(f32(betaProdPrev / betaProd) * f32(1 - f32(alphaProd / alphaProdPrev)));
    const stdDev = f32(f32(eta) * f32(Math.sqrt(variance)));
    // √(1−ᾱ_t'−σ²); the max guards η near 1 against a rounding just below 0 (diffusers would give NaN there).
    const directionCoeff = f32(Math.sqrt(Math.max(0, f32(betaProdPrev - f32(stdDev * stdDev)))));
    const sqrtAlphaProdPrev = f32(Math.sqrt(alphaProdPrev));

    return tf.tidy(() => {
      let predOriginalSample = predictOriginalSample(predictionType, modelOutput, sample, alphaProd);
      let predEpsilon = predictEpsilon(predictionType, modelOutput, sample, alphaProd, predOriginalSample);
      if (clipSample) predOriginalSample = tf.clipByValue(predOriginalSample, -clipSampleRange, clipSampleRange);
      if (options.useClippedModelOutput === true) {
        predEpsilon = predictEpsilon("sample", predOriginalSample, sample, alphaProd, predOriginalSample);
      }
      const direction = tf.mul(directionCoeff, predEpsilon); // "direction pointing to x_t"
      let prevSample = tf.add(tf.mul(sqrtAlphaProdPrev, predOriginalSample), direction);
      if (eta > 0) {
        const noise = stepNoise(sample.shape, options, this.generator, "DDIMScheduler.step");
        prevSample = tf.add(prevSample, tf.mul(stdDev, noise));
      }
      return { prevSample: prevSample as T, predOriginalSample: predOriginalSample as T };
    });
  }

  /** x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε for one timestep per batch item (or one for all). */
  addNoise<T extends tf.Tensor>(original: T, noise: T, timesteps: TimestepsLike): T {
    return addNoise(this.alphasCumprod, original, noise, timesteps);
  }

  /** v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0, the target of a "v_prediction" model. */
  getVelocity<T extends tf.Tensor>(sample: T, noise: T, timesteps: TimestepsLike): T {
    return velocity(this.alphasCumprod, sample, noise, timesteps);
  }

  /** The training target for this config's `predictionType`: ε, v or x_0. */
  trainingTarget<T extends tf.Tensor>(original: T, noise: T, timesteps: TimestepsLike): T {
    return trainingTarget(this.config.predictionType, this.alphasCumprod, original, noise, timesteps);
  }
}

function resolveConfig(options: DDIMSchedulerOptions): DDIMSchedulerConfig {
  return resolveSchedulerConfig("DDIMScheduler", DDIM_SCHEDULER_DEFAULTS, options, SIBLING_KEYS);
}
