/**
 * Noise schedules and the forward process of DDPM (Ho et al. 2020, arXiv 2006.11239).
 *
 * Legend (paper symbol ↔ name here):
 *   β_t ↔ `betas[t]`, α_t = 1 − β_t ↔ `alphas[t]`, ᾱ_t = ∏_{s≤t} α_s ↔ `alphasCumprod[t]`,
 *   x_0 ↔ original sample, ε ↔ noise, v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0 (Salimans & Ho 2022, §4; "v_prediction").
 *
 * The tables are plain `number[]` holding float32 values, computed the way diffusers builds its torch float32 tables on
 * the CPU, so a config carried over from diffusers gives the same numbers:
 *   - `torch.linspace(start, end, n, dtype=float32)`: start/end rounded to float32, a float32 step, the first half
 *     counted up from `start`, the second half counted down from `end` (one rounding per value, see `linspaceFloat32`);
 *   - `1 − β` in float32; `cumprod` accumulated in float64 and rounded to float32 per entry (torch's CPU kernel
 *     accumulates float32 in double);
 *   - the cosine ("squaredcos_cap_v2") betas in float64, capped at 0.999, then rounded to float32.
 *
 * Only the functions that take tensors touch tfjs; they build their intermediates inside `tf.tidy`.
 */
import * as tf from "@tensorflow/tfjs-core";

const f32 = Math.fround;

/** Beta schedules by diffusers' names; `"cosine"` is an alias of `"squaredcos_cap_v2"`. */
export type BetaSchedule = "linear" | "scaled_linear" | "squaredcos_cap_v2" | "cosine";

/** What the model predicts: the noise ε, the velocity v, or the clean sample x_0 (diffusers' names). */
export type PredictionType = "epsilon" | "v_prediction" | "sample";

/** How inference timesteps are spread over the training ones (Lin et al. 2023, arXiv 2305.08891, Table 2). */
export type TimestepSpacing = "leading" | "trailing" | "linspace";

export const BETA_SCHEDULES: readonly BetaSchedule[] = Object.freeze([
  "linear",
  "scaled_linear",
  "squaredcos_cap_v2",
  "cosine",
]);
export const PREDICTION_TYPES: readonly PredictionType[] = Object.freeze(["epsilon", "v_prediction", "sample"]);
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = Object.freeze(["leading", "trailing", "linspace"]);

/** The part of a scheduler config that fixes β_1..β_T. */
export interface NoiseScheduleConfig {
  /** T, the number of diffusion steps the model was trained with. */
  numTrainTimesteps: number;
  betaSchedule: BetaSchedule;
  /** β at t = 0 for "linear" / "scaled_linear" (ignored by the cosine schedule). */
  betaStart: number;
  /** β at t = T − 1 for "linear" / "scaled_linear" (ignored by the cosine schedule). */
  betaEnd: number;
  /** Explicit betas (length `numTrainTimesteps`); when given they replace `betaSchedule`. */
  trainedBetas?: readonly number[] | undefined;
}

/** β_t, α_t and ᾱ_t for t = 0..T−1, float32 values in plain arrays. */
export interface NoiseScheduleTables {
  betas: readonly number[];
  alphas: readonly number[];
  alphasCumprod: readonly number[];
}

/** Cosine schedule offset s of Nichol & Dhariwal 2021 (arXiv 2102.09672, eq. 17). */
const COSINE_OFFSET = 0.008;
/** The cap on β that keeps the cosine schedule from a singular last step (Nichol & Dhariwal 2021, §3.2). */
export const COSINE_MAX_BETA = 0.999;

/**
 * f(τ) = cos²(((τ + s)/(1 + s))·π/2) for τ = t/T in [0, 1] (Nichol & Dhariwal 2021, eq. 17); ᾱ_t = f(t/T)/f(0).
 * The discrete schedule below telescopes to ᾱ_t = f((t+1)/T)/f(0) wherever β stays under its cap.
 */
export function cosineAlphaBar(tau: number): number {
  const c = Math.cos(((tau + COSINE_OFFSET) / (1 + COSINE_OFFSET)) * (Math.PI / 2));
  return c * c;
}

/**
 * β_t = min(1 − ᾱ((t+1)/T)/ᾱ(t/T), maxBeta) for t = 0..T−1, computed in float64 and rounded to float32
 * (diffusers' `betas_for_alpha_bar`).
 */
export function betasForAlphaBar(
  numTimesteps: number,
  alphaBar: (tau: number) => number = cosineAlphaBar,
  maxBeta = COSINE_MAX_BETA,
): number[] {
  assertPositiveInteger(numTimesteps, "numTrainTimesteps");
  const betas: number[] = [];
  for (let i = 0; i < numTimesteps; i++) {
    const t1 = i / numTimesteps;
    const t2 = (i + 1) / numTimesteps;
    betas.push(f32(Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta)));
  }
  return betas;
}

/**
 * `torch.linspace(start, end, steps, dtype=float32)` on the CPU: float32 ends and step, values below the halfway
 * index counted from `start`, the rest counted back from `end`. Each value is rounded once (a fused multiply-add, as
 * the compiled kernel does on FMA hardware); in float64 the product and sum here are exact, so one `fround` matches.
 */
export function linspaceFloat32(start: number, end: number, steps: number): number[] {
  assertPositiveInteger(steps, "steps");
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) return [s];
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(i < halfway ? f32(s + step * i) : f32(e - step * (steps - i - 1)));
  return out;
}

/** Running product accumulated in float64, each entry rounded to float32 (torch's CPU `cumprod` on float32). */
export function cumprodFloat32(values: readonly number[]): number[] {
  const out: number[] = [];
  let acc = 1;
  for (const v of values) {
    acc *= v;
    out.push(f32(acc));
  }
  return out;
}

/** β_0..β_{T−1} as float32 values, by diffusers' rules for each schedule name. */
export function betasForSchedule(config: NoiseScheduleConfig): number[] {
  const { numTrainTimesteps: n, betaSchedule, betaStart, betaEnd, trainedBetas } = config;
  assertPositiveInteger(n, "numTrainTimesteps");
  let betas: number[];
  if (trainedBetas !== undefined) {
    if (trainedBetas.length !== n) {
      throw new Error(`trainedBetas has ${trainedBetas.length} values but numTrainTimesteps is ${n}`);
    }
    betas = trainedBetas.map(f32);
  } else {
    switch (betaSchedule) {
      case "linear":
        assertFinite(betaStart, "betaStart");
        assertFinite(betaEnd, "betaEnd");
        betas = linspaceFloat32(betaStart, betaEnd, n);
        break;
      case "scaled_linear":
        // Linear in √β, then squared in float32 (the latent-diffusion schedule).
        assertFinite(betaStart, "betaStart");
        assertFinite(betaEnd, "betaEnd");
        if (betaStart < 0 || betaEnd < 0) throw new Error("scaled_linear needs betaStart ≥ 0 and betaEnd ≥ 0");
        betas = linspaceFloat32(Math.sqrt(betaStart), Math.sqrt(betaEnd), n).map((r) => f32(r * r));
        break;
      case "squaredcos_cap_v2":
      case "cosine":
        betas = betasForAlphaBar(n);
        break;
      default:
        throw new Error(
          `unknown betaSchedule ${JSON.stringify(betaSchedule)}; expected one of ${BETA_SCHEDULES.join(", ")}`,
        );
    }
  }
  betas.forEach((b, t) => {
    if (!(b > 0 && b < 1)) throw new Error(`beta at t = ${t} is ${b}; every beta must lie in (0, 1)`);
  });
  return betas;
}

/** β, α = 1 − β and ᾱ = cumprod(α), all float32 values (diffusers' `betas`, `alphas`, `alphas_cumprod`). */
export function noiseSchedule(config: NoiseScheduleConfig): NoiseScheduleTables {
  const betas = betasForSchedule(config);
  const alphas = betas.map((b) => f32(1 - b));
  return { betas, alphas, alphasCumprod: cumprodFloat32(alphas) };
}

/** numpy's `round`: to the nearest integer, halves to the even neighbour. */
export function roundHalfToEven(x: number): number {
  let r = Math.round(x); // halves up
  if (r - x === 0.5 && r % 2 !== 0) r -= 1;
  return r + 0; // no −0
}

/**
 * The inference timesteps, descending, by diffusers' `set_timesteps` rules (numpy float64 arithmetic, round half to
 * even):
 *   - "leading":  i·⌊T/n⌋ for i = n−1..0, plus `stepsOffset`;
 *   - "trailing": round(T − i·T/n) − 1 for i = 0..n−1 (numpy's `arange(T, 0, −T/n)`);
 *   - "linspace": round(linspace(0, T−1, n)), reversed.
 * For some n (61, 103, … with T = 1000) numpy's `arange` in "trailing" yields one extra element that rounds to −1;
 * diffusers keeps it, we drop it, so there are always n timesteps and all lie in [0, T).
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  numInferenceSteps: number,
  stepsOffset = 0,
): number[] {
  assertPositiveInteger(numTrainTimesteps, "numTrainTimesteps");
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1) {
    throw new Error(`numInferenceSteps must be a positive integer, got ${numInferenceSteps}`);
  }
  if (numInferenceSteps > numTrainTimesteps) {
    throw new Error(
      `numInferenceSteps (${numInferenceSteps}) cannot exceed numTrainTimesteps (${numTrainTimesteps}): ` +
        "the model only knows that many noise levels",
    );
  }
  if (!Number.isInteger(stepsOffset) || stepsOffset < 0) {
    throw new Error(`stepsOffset must be a non-negative integer, got ${stepsOffset}`);
  }
  const T = numTrainTimesteps;
  const n = numInferenceSteps;
  let timesteps: number[];
  switch (spacing) {
    case "leading": {
      const ratio = Math.floor(T / n);
      timesteps = [];
      for (let i = n - 1; i >= 0; i--) timesteps.push(i * ratio + stepsOffset);
      break;
    }
    case "trailing": {
      // numpy.arange(T, 0, -T/n): length ⌈−T / (−T/n)⌉, values T + i·((T − T/n) − T).
      const step = -(T / n);
      const length = Math.ceil(-T / step);
      const delta = T + step - T;
      timesteps = [];
      for (let i = 0; i < length; i++) {
        const value = i === 0 ? T : i === 1 ? T + step : T + i * delta;
        timesteps.push(roundHalfToEven(value) - 1);
      }
      timesteps = timesteps.filter((t) => t >= 0);
      break;
    }
    case "linspace": {
      // numpy.linspace(0, T−1, n): i·((T−1)/(n−1)), the last value exactly T−1.
      timesteps = [];
      if (n === 1) timesteps.push(0);
      else {
        const step = (T - 1) / (n - 1);
        for (let i = 0; i < n; i++) timesteps.push(roundHalfToEven(i === n - 1 ? T - 1 : i * step));
      }
      timesteps.reverse();
      break;
    }
    default:
      throw new Error(
        `unknown timestepSpacing ${JSON.stringify(spacing)}; expected one of ${TIMESTEP_SPACINGS.join(", ")}`,
      );
  }
  const outside = timesteps.find((t) => t >= T);
  if (outside !== undefined) {
    throw new Error(
      `stepsOffset ${stepsOffset} pushes timestep ${outside} past the last training timestep ${T - 1}; ` +
        "lower stepsOffset or numInferenceSteps",
    );
  }
  return timesteps;
}

/** x_t' and the x̂_0 it came from, both shaped like the sample (what a scheduler's `step` returns). */
export interface SchedulerOutput<T extends tf.Tensor = tf.Tensor> {
  prevSample: T;
  predOriginalSample: T;
}

/** Timesteps for `addNoise` / `velocity`: one per batch item (or one for all), each an integer in [0, T). */
export type TimestepsLike = number | readonly number[] | tf.Tensor;

/**
 * √ᾱ_t and √(1−ᾱ_t) gathered per batch item and shaped [B, 1, …, 1] to broadcast against a tensor of `rank`.
 * Call inside `tf.tidy`.
 */
function forwardCoefficients(
  alphasCumprod: readonly number[],
  timesteps: TimestepsLike,
  like: tf.Tensor,
  caller: string,
): { sqrtAlphaProd: tf.Tensor; sqrtOneMinusAlphaProd: tf.Tensor } {
  let indices: tf.Tensor;
  if (timesteps instanceof tf.Tensor) {
    if (timesteps.dtype !== "int32") throw new Error(`${caller}: timesteps tensor must be int32, got ${timesteps.dtype}`);
    indices = tf.reshape(timesteps, [-1]);
  } else {
    const list = typeof timesteps === "number" ? [timesteps] : [...timesteps];
    for (const t of list) assertTimestepInRange(t, alphasCumprod.length, caller);
    indices = tf.tensor1d(list, "int32");
  }
  const batch = indices.shape[0]!;
  if (like.rank === 0 || (batch !== 1 && batch !== like.shape[0])) {
    throw new Error(`${caller}: ${batch} timesteps for a batch of shape [${like.shape.join(", ")}]`);
  }
  const alphaProd = tf.gather(tf.tensor1d(alphasCumprod as number[], "float32"), indices); // [B]
  const broadcastShape = [batch, ...new Array<number>(like.rank - 1).fill(1)];
  return {
    sqrtAlphaProd: tf.reshape(tf.sqrt(alphaProd), broadcastShape),
    sqrtOneMinusAlphaProd: tf.reshape(tf.sqrt(tf.sub(1, alphaProd)), broadcastShape),
  };
}

/** The forward process q(x_t | x_0): x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε (Ho et al. 2020, eq. 4). Shaped like `original`. */
export function addNoise<T extends tf.Tensor>(
  alphasCumprod: readonly number[],
  original: T,
  noise: T,
  timesteps: TimestepsLike,
): T {
  assertSameShape(original, noise, "addNoise", "original", "noise");
  return tf.tidy(() => {
    const { sqrtAlphaProd, sqrtOneMinusAlphaProd } = forwardCoefficients(alphasCumprod, timesteps, original, "addNoise");
    return tf.add(tf.mul(sqrtAlphaProd, original), tf.mul(sqrtOneMinusAlphaProd, noise)) as T;
  });
}

/** The velocity target v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0 (Salimans & Ho 2022, §4). Shaped like `sample`. */
export function velocity<T extends tf.Tensor>(
  alphasCumprod: readonly number[],
  sample: T,
  noise: T,
  timesteps: TimestepsLike,
): T {
  assertSameShape(sample, noise, "velocity", "sample", "noise");
  return tf.tidy(() => {
    const { sqrtAlphaProd, sqrtOneMinusAlphaProd } = forwardCoefficients(alphasCumprod, timesteps, sample, "velocity");
    return tf.sub(tf.mul(sqrtAlphaProd, noise), tf.mul(sqrtOneMinusAlphaProd, sample)) as T;
  });
}

/**
 * What a model of `predictionType` is trained to output for x_0 noised with ε at `timesteps`: ε, v, or x_0 itself.
 * A new tensor (the caller disposes it), shaped like `original`.
 */
export function trainingTarget<T extends tf.Tensor>(
  predictionType: PredictionType,
  alphasCumprod: readonly number[],
  original: T,
  noise: T,
  timesteps: TimestepsLike,
): T {
  assertPredictionType(predictionType);
  assertSameShape(original, noise, "trainingTarget", "original", "noise");
  if (predictionType === "epsilon") return tf.clone(noise);
  if (predictionType === "sample") return tf.clone(original);
  return velocity(alphasCumprod, original, noise, timesteps);
}

/**
 * x̂_0 from a model output at a step with ᾱ_t = `alphaProd` (a float32 value), in float32 as diffusers does:
 *   ε:  x̂_0 = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t          (Ho et al. 2020, eq. 15)
 *   v:  x̂_0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v̂              (Salimans & Ho 2022, §4)
 *   x_0: the output itself.
 * Call inside `tf.tidy`.
 */
export function predictOriginalSample(
  predictionType: PredictionType,
  modelOutput: tf.Tensor,
  sample: tf.Tensor,
  alphaProd: number,
): tf.Tensor {
  const sqrtAlphaProd = f32(Math.sqrt(alphaProd));
  const sqrtBetaProd = f32(Math.sqrt(f32(1 - alphaProd)));
  switch (predictionType) {
    case "epsilon":
      return tf.div(tf.sub(sample, tf.mul(sqrtBetaProd, modelOutput)), sqrtAlphaProd);
    case "v_prediction":
      return tf.sub(tf.mul(sqrtAlphaProd, sample), tf.mul(sqrtBetaProd, modelOutput));
    case "sample":
      return tf.clone(modelOutput); // a tensor of its own, so the caller may dispose either
    default:
      throw unknownPredictionType(predictionType);
  }
}

/**
 * ε̂ from a model output (and the x̂_0 derived from it) at ᾱ_t = `alphaProd`, in float32:
 *   ε: the output; v: ε̂ = √ᾱ_t·v̂ + √(1−ᾱ_t)·x_t; x_0: ε̂ = (x_t − √ᾱ_t·x̂_0) / √(1−ᾱ_t).
 * Call inside `tf.tidy`.
 */
export function predictEpsilon(
  predictionType: PredictionType,
  modelOutput: tf.Tensor,
  sample: tf.Tensor,
  alphaProd: number,
  predOriginalSample: tf.Tensor,
): tf.Tensor {
  const sqrtAlphaProd = f32(Math.sqrt(alphaProd));
  const sqrtBetaProd = f32(Math.sqrt(f32(1 - alphaProd)));
  switch (predictionType) {
    case "epsilon":
      return modelOutput;
    case "v_prediction":
      return tf.add(tf.mul(sqrtAlphaProd, modelOutput), tf.mul(sqrtBetaProd, sample));
    case "sample":
      return tf.div(tf.sub(sample, tf.mul(sqrtAlphaProd, predOriginalSample)), sqrtBetaProd);
    default:
      throw unknownPredictionType(predictionType);
  }
}

// ---- validation shared by the schedulers -------------------------------------------------------------------------

export function assertPositiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
}

function assertFinite(value: number, name: string): void {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`${name} must be a finite number, got ${value}`);
}

/** diffusers options both schedulers accept only at their default (off); anything else is refused rather than ignored. */
export const UNSUPPORTED_SCHEDULER_FLAGS = ["thresholding", "rescaleBetasZeroSnr"] as const;

/** What the config checks of both schedulers share (their configs extend this). */
export interface SchedulerConfigBase extends NoiseScheduleConfig {
  predictionType: PredictionType;
  clipSampleRange: number;
  stepsOffset: number;
  timestepSpacing: TimestepSpacing;
}

/**
 * A scheduler's config: `defaults` overridden by the defined `options`, after refusing unknown keys and the
 * unsupported flags; `siblingKeys` (the other scheduler's options) are accepted and dropped, so one config object
 * can serve both. Checks the fields both schedulers have; errors start with `name`.
 */
export function resolveSchedulerConfig<C extends SchedulerConfigBase>(name: string, defaults: Readonly<C>, options: object, siblingKeys: readonly string[]): C {
  const given = options as Record<string, unknown>;
  const known = new Set<string>([...Object.keys(defaults), ...UNSUPPORTED_SCHEDULER_FLAGS, ...siblingKeys]);
  for (const key of Object.keys(given)) {
    if (!known.has(key)) throw new Error(`${name}: unknown option ${JSON.stringify(key)}`);
  }
  for (const flag of UNSUPPORTED_SCHEDULER_FLAGS) {
    if (given[flag] !== undefined && given[flag] !== false) throw new Error(`${name}: ${flag} is not supported`);
  }
  const defined = Object.fromEntries(Object.entries(given).filter(([key, v]) => v !== undefined && v !== null && key in defaults));
  const config = { ...defaults, ...defined } as C;
  const oneOf = (field: string, value: string, allowed: readonly string[]): void => {
    if (!allowed.includes(value)) throw new Error(`${name}: unknown ${field} ${JSON.stringify(value)}; expected one of ${allowed.join(", ")}`);
  };
  oneOf("betaSchedule", config.betaSchedule, BETA_SCHEDULES);
  assertPredictionType(config.predictionType);
  oneOf("timestepSpacing", config.timestepSpacing, TIMESTEP_SPACINGS);
  if (!(config.clipSampleRange > 0)) throw new Error(`${name}: clipSampleRange must be > 0, got ${config.clipSampleRange}`);
  if (!Number.isInteger(config.stepsOffset) || config.stepsOffset < 0) {
    throw new Error(`${name}: stepsOffset must be a non-negative integer, got ${config.stepsOffset}`);
  }
  return config;
}

export function assertPredictionType(value: string): asserts value is PredictionType {
  if (!(PREDICTION_TYPES as readonly string[]).includes(value)) throw unknownPredictionType(value);
}

function unknownPredictionType(value: string): Error {
  return new Error(`unknown predictionType ${JSON.stringify(value)}; expected one of ${PREDICTION_TYPES.join(", ")}`);
}

export function assertTimestepInRange(t: number, numTrainTimesteps: number, caller: string): void {
  if (!Number.isInteger(t) || t < 0 || t >= numTrainTimesteps) {
    throw new Error(`${caller}: timestep ${t} is not an integer in [0, ${numTrainTimesteps})`);
  }
}

/** A short list for error messages: the first few timesteps and the count. */
export function describeTimesteps(timesteps: readonly number[]): string {
  const head = timesteps.slice(0, 6).join(", ");
  return timesteps.length > 6 ? `${head}, … (${timesteps.length} in all)` : head;
}

export function assertSameShape(a: tf.Tensor, b: tf.Tensor, caller: string, nameA: string, nameB: string): void {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new Error(`${caller}: ${nameB} has shape [${b.shape.join(", ")}] but ${nameA} has [${a.shape.join(", ")}]`);
  }
}
