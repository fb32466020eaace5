/** Test helpers for the scheduler parity fixtures (not part of the package). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";

const FIXTURE_DIR = fileURLToPath(new URL("../__fixtures__/schedulers/", import.meta.url));

/** A fixture JSON written by tools/make_scheduler_fixtures.py (see the README beside the files). */
export function readSchedulerFixture<T>(name: "tables" | "timesteps" | "trajectories" | "forward"): T {
  return JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, "utf-8")) as T;
}

export interface TablesFixture {
  cases: {
    name: string;
    config: { numTrainTimesteps: number; betaSchedule: string; betaStart: number; betaEnd: number };
    betas: number[];
    alphasCumprod: number[];
  }[];
}

export interface TimestepsFixture {
  cases: { spacing: string; numTrainTimesteps: number; numInferenceSteps: number; stepsOffset: number; timesteps: number[] }[];
  /** len(timesteps) diffusers' "trailing" rule gives for n = 1..1000 with T = 1000. */
  trailingLengthsT1000: number[];
}

export interface TrajectoryCase {
  name: string;
  scheduler: "DDPM" | "DDIM";
  /** Overrides of the scheduler defaults, in our option names. */
  config: Record<string, unknown>;
  /** null: no setTimesteps (DDPM walks every training timestep). */
  numInferenceSteps: number | null;
  eta: number;
  useClippedModelOutput: boolean;
  timesteps: number[];
  /** x at the start of each step, then the final x (length steps + 1). */
  samples: number[][];
  modelOutputs: number[][];
  /** The noise of each step's stochastic part; null where the step has none. */
  noises: (number[] | null)[];
  predOriginalSamples: number[][];
}

export interface TrajectoriesFixture {
  shape: number[];
  cases: TrajectoryCase[];
}

export interface ForwardFixture {
  shape: number[];
  cases: { betaSchedule: string; timesteps: number[]; original: number[]; noise: number[]; noisy: number[]; velocity: number[] }[];
}

/**
 * max |ours − ref| / max(1, max |ref|): the error relative to the values' scale. `ref` is read as float32 (the
 * fixtures store each float32 as its shortest decimal), so bit-equal results give 0.
 */
export function scaledMaxError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`size ${ours.length} ≠ ${ref.length}`);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.fround(ref[i]!);
    diff = Math.max(diff, Math.abs(ours[i]! - r));
    scale = Math.max(scale, Math.abs(r));
  }
  return diff / scale;
}

/** What the trajectory check needs of a scheduler. */
export interface SteppingScheduler {
  timesteps: number[];
  setTimesteps(numInferenceSteps: number): void;
  step(
    modelOutput: tf.Tensor,
    timestep: number,
    sample: tf.Tensor,
    options: { noise?: tf.Tensor; eta?: number; useClippedModelOutput?: boolean },
  ): { prevSample: tf.Tensor; predOriginalSample: tf.Tensor };
}

/**
 * Steps `scheduler` through a fixture trajectory twice: from the reference's own x_t at each step (the worst
 * per-step error of x_t' and x̂_0), and feeding its own x_t' back (the error of the final sample).
 */
export function runTrajectory(
  scheduler: SteppingScheduler,
  c: TrajectoryCase,
  shape: number[],
): { stepError: number; originalError: number; finalError: number } {
  if (c.numInferenceSteps !== null) scheduler.setTimesteps(c.numInferenceSteps);
  if (JSON.stringify(scheduler.timesteps) !== JSON.stringify(c.timesteps)) {
    throw new Error(`${c.name}: timesteps ${scheduler.timesteps.join(",")} ≠ ${c.timesteps.join(",")}`);
  }
  let stepError = 0;
  let originalError = 0;
  let own = tf.tensor(c.samples[0]!, shape);
  c.timesteps.forEach((t, k) => {
    const [given, modelOutput] = [tf.tensor(c.samples[k]!, shape), tf.tensor(c.modelOutputs[k]!, shape)];
    const noiseValues = c.noises[k];
    const noise = noiseValues === null || noiseValues === undefined ? undefined : tf.tensor(noiseValues, shape);
    const options = { noise, eta: c.eta, useClippedModelOutput: c.useClippedModelOutput };
    const fromGiven = scheduler.step(modelOutput, t, given, options);
    stepError = Math.max(stepError, scaledMaxError(fromGiven.prevSample.dataSync(), c.samples[k + 1]!));
    originalError = Math.max(originalError, scaledMaxError(fromGiven.predOriginalSample.dataSync(), c.predOriginalSamples[k]!));
    const fromOwn = scheduler.step(modelOutput, t, own, options);
    tf.dispose([own, given, modelOutput, fromGiven.prevSample, fromGiven.predOriginalSample, fromOwn.predOriginalSample]);
    if (noise !== undefined) noise.dispose();
    own = fromOwn.prevSample;
  });
  const finalError = scaledMaxError(own.dataSync(), c.samples[c.samples.length - 1]!);
  own.dispose();
  return { stepError, originalError, finalError };
}
