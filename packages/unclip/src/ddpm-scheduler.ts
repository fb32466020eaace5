/**
 * DDPM ancestral sampling (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", arXiv 2006.11239), with the
 * respacing of Nichol & Dhariwal 2021 so a model trained on T steps samples in n ≤ T. Config names, defaults and
 * numbers follow diffusers' `DDPMScheduler`, so a config carries across and the float32 results agree.
 *
 * Legend: t ↔ `timestep`, t' ↔ `prevTimestep` (the next timestep in `timesteps`, −1 after the last), ᾱ_t ↔
 * `alphaProd`, ᾱ_t' ↔ `alphaProdPrev` (1 when t' < 0), α_t/t' = ᾱ_t/ᾱ_t', β_t/t' = 1 − α_t/t' (the respaced β).
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
  assertTimestepInRange,
  describeTimesteps,
  noiseSchedule,
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

/** The variance σ_t² of each ancestral step (Ho et al. 2020, §3.2): β̃_t (posterior, "fixed_small") or β_t. */
export type VarianceType = "fixed_small" | "fixed_large";
export const VARIANCE_TYPES: readonly VarianceType[] = Object.freeze(["fixed_small", "fixed_large"]);

export interface DDPMSchedulerConfig extends NoiseScheduleConfig {
  predictionType: PredictionType;
  /** "fixed_small": σ² = β̃ = (1−ᾱ_t')/(1−ᾱ_t)·β_t/t'; "fixed_large": σ² = β_t/t'. */
  varianceType: VarianceType;
  /** Clamp x̂_0 to [−clipSampleRange, clipSampleRange] (pixel-space models); off for latents and embeddings. */
  clipSample: boolean;
  clipSampleRange: number;
  timestepSpacing: TimestepSpacing;
  /** Added to every "leading" timestep (some model families were trained with 1). */
  stepsOffset: number;
}

/** diffusers' defaults for `DDPMScheduler`. */
export const DDPM_SCHEDULER_DEFAULTS: Readonly<DDPMSchedulerConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaSchedule: "linear",
  betaStart: 0.0001,
  betaEnd: 0.02,
  trainedBetas: undefined,
  predictionType: "epsilon",
  varianceType: "fixed_small",
  clipSample: true,
  clipSampleRange: 1,
  timestepSpacing: "leading",
  stepsOffset: 0,
});

/** Options of the sibling scheduler, accepted and ignored so one config object can serve both. */
const SIBLING_KEYS = ["setAlphaToOne", "dynamicThresholdingRatio", "sampleMaxValue"] as const;

export type DDPMSchedulerOptions = Partial<DDPMSchedulerConfig> &
  Partial<Record<(typeof UNSUPPORTED_SCHEDULER_FLAGS)[number], false>> &
  Partial<Record<(typeof SIBLING_KEYS)[number], unknown>>;

/** Options of one DDPM step: where the noise of the stochastic part comes from (used when t > 0). */
export type DDPMStepOptions = StepNoiseOptions;

export class DDPMScheduler {
  readonly config: Readonly<DDPMSchedulerConfig>;
  /** β_t, α_t, ᾱ_t for t = 0..T−1 (float32 values). */
  readonly betas: readonly number[];
  readonly alphas: readonly number[];
  readonly alphasCumprod: readonly number[];
  /** σ of the initial noise x_T ~ N(0, σ²I). */
  readonly initNoiseSigma = 1;
  /** n after `setTimesteps(n)`; undefined before, when `step` walks t → t − 1 over all T steps. */
  numInferenceSteps: number | undefined = undefined;
  /** The timesteps to visit, descending. */
  timesteps: number[];
  /** Draws the noise of a step when the caller passes none. */
  generator = new RandomGenerator(0);

  constructor(options: DDPMSchedulerOptions = {}) {
    this.config = Object.freeze(resolveConfig(options));
    const tables = noiseSchedule(this.config);
    this.betas = tables.betas;
    this.alphas = tables.alphas;
    this.alphasCumprod = tables.alphasCumprod;
    this.timesteps = Array.from({ length: this.config.numTrainTimesteps }, (_, i) => this.config.numTrainTimesteps - 1 - i);
  }

  /** Choose n timesteps by `config.timestepSpacing` (diffusers' rules); `step` then walks them in order. */
  setTimesteps(numInferenceSteps: number): void {
    const { timestepSpacing, numTrainTimesteps, stepsOffset } = this.config;
    this.timesteps = spacedTimesteps(timestepSpacing, numTrainTimesteps, numInferenceSteps, stepsOffset);
    this.numInferenceSteps = numInferenceSteps;
  }

  /** t': the timestep after `timestep` in `timesteps` (−1 after the last); t − 1 before `setTimesteps`. */
  previousTimestep(timestep: number): number {
    if (this.numInferenceSteps === undefined) {
      assertTimestepInRange(timestep, this.config.numTrainTimesteps, "DDPMScheduler.step");
      return timestep - 1;
    }
    const index = this.timesteps.indexOf(timestep);
    if (index < 0) {
      throw new Error(
        `DDPMScheduler.step: timestep ${timestep} is not one of the ${this.timesteps.length} timesteps set by ` +
          `setTimesteps(${this.numInferenceSteps}) (${describeTimesteps(this.timesteps)})`,
      );
    }
    return index === this.timesteps.length - 1 ? -1 : this.timesteps[index + 1]!;
  }

  /**
   * One ancestral step x_t → x_t' (Ho et al. 2020, eqs. 6–7 with Algorithm 2's noise):
   *   x̂_0 from the model output (clamped when `clipSample`),
   *   μ = √ᾱ_t'·β_t/t' / (1−ᾱ_t) · x̂_0 + √α_t/t'·(1−ᾱ_t') / (1−ᾱ_t) · x_t,
   *   x_t' = μ + σ_t·z with z ~ N(0, I) when t > 0.
   * Returns new tensors shaped like `sample`; the inputs are left alone.
   */
  step<T extends tf.Tensor>(modelOutput: T, timestep: number, sample: T, options: DDPMStepOptions = {}): SchedulerOutput<T> {
    assertSameShape(sample, modelOutput, "DDPMScheduler.step", "sample", "modelOutput");
    const t = timestep;
    const prevT = this.previousTimestep(t);
    const { predictionType, clipSample, clipSampleRange, varianceType } = this.config;

    // Scalars, float32 as in diffusers' 0-d tensors.
    const alphaProd = this.alphasCumprod[t]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : 1;
    const betaProd = f32(1 - alphaProd);
    const betaProdPrev = f32(1 - alphaProdPrev);
    const currentAlpha = f32(alphaProd / alphaProdPrev);
    const currentBeta = f32(1 - currentAlpha);
    // Posterior mean coefficients (Ho et al. 2020, eq. 7).
    const originalCoeff = f32(f32(f32(Math.sqrt(alphaProdPrev)) * currentBeta) / betaProd);
    const sampleCoeff = f32(f32(f32(Math.sqrt(currentAlpha)) * betaProdPrev) / betaProd);
    let sigma = 0;
    if (t > 0) {
      const posteriorVariance = Math.max(f32(f32(betaProdPrev / betaProd) * currentBeta), f32(1e-20));
      sigma = f32(Math.sqrt(varianceType === "fixed_small" ? posteriorVariance : currentBeta));
    }

    return tf.tidy(() => {
      let predOriginalSample = predictOriginalSample(predictionType, modelOutput, sample, alphaProd);
      if (clipSample) predOriginalSample = tf.clipByValue(predOriginalSample, -clipSampleRange, clipSampleRange);
      let prevSample = tf.add(tf.mul(originalCoeff, predOriginalSample), tf.mul(sampleCoeff, sample));
      if (t > 0) {
        const noise = stepNoise(sample.shape, options, this.generator, "DDPMScheduler.step");
        prevSample = tf.add(prevSample, tf.mul(sigma, noise));
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

function resolveConfig(options: DDPMSchedulerOptions): DDPMSchedulerConfig {
  const config = resolveSchedulerConfig("DDPMScheduler", DDPM_SCHEDULER_DEFAULTS, options, SIBLING_KEYS);
  if (!(VARIANCE_TYPES as readonly string[]).includes(config.varianceType)) {
    throw new Error(
      `DDPMScheduler: unknown varianceType ${JSON.stringify(config.varianceType)}; expected one of ${VARIANCE_TYPES.join(", ")}`,
    );
  }
  return config;
}
