import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  addNoise,
  betasForSchedule,
  cosineAlphaBar,
  cumprodFloat32,
  linspaceFloat32,
  noiseSchedule,
  roundHalfToEven,
  spacedTimesteps,
  trainingTarget,
  velocity,
  type BetaSchedule,
  type TimestepSpacing,
} from "./noise-schedule.js";
import {
  readSchedulerFixture,
  scaledMaxError,
  type ForwardFixture,
  type TablesFixture,
  type TimestepsFixture,
} from "./testing/scheduler-fixtures.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Largest distance in float32 units in the last place between two float32-valued arrays. */
function maxUlps(ours: readonly number[], ref: readonly number[]): number {
  expect(ours.length).toBe(ref.length);
  const a = new Float32Array(ours);
  const b = new Float32Array(ref.map(Math.fround));
  const ai = new Int32Array(a.buffer);
  const bi = new Int32Array(b.buffer);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(ai[i]! - bi[i]!));
  return worst;
}

describe("beta tables", () => {
  const fixture = readSchedulerFixture<TablesFixture>("tables");

  it.each(fixture.cases.map((c) => [c.name, c] as const))("%s: betas and ᾱ match the float32 reference", (_, c) => {
    const tables = noiseSchedule({ ...c.config, betaSchedule: c.config.betaSchedule as BetaSchedule });
    // Same float32 rounding rules as the reference: equal, or (cosine, where libm and V8 may differ by an ulp of
    // float64 in cos) within one float32 ulp.
    expect(maxUlps([...tables.betas], c.betas)).toBeLessThanOrEqual(1);
    expect(maxUlps([...tables.alphasCumprod], c.alphasCumprod)).toBeLessThanOrEqual(1);
    for (const v of tables.alphasCumprod) expect(Math.fround(v)).toBe(v);
  });

  it("linear betas run from betaStart to betaEnd (float32) in equal steps", () => {
    const betas = betasForSchedule({ numTrainTimesteps: 1000, betaSchedule: "linear", betaStart: 1e-4, betaEnd: 0.02 });
    expect(betas).toHaveLength(1000);
    expect(betas[0]).toBe(Math.fround(1e-4));
    expect(betas[999]).toBe(Math.fround(0.02));
    expect(betas[500]! - betas[499]!).toBeCloseTo((0.02 - 1e-4) / 999, 8);
  });

  it("scaled_linear is linear in √β", () => {
    const betas = betasForSchedule({ numTrainTimesteps: 10, betaSchedule: "scaled_linear", betaStart: 0.00085, betaEnd: 0.012 });
    const roots = betas.map(Math.sqrt);
    expect(roots[0]).toBeCloseTo(Math.sqrt(0.00085), 7);
    expect(roots[9]).toBeCloseTo(Math.sqrt(0.012), 7);
    for (let i = 1; i < 9; i++) expect(roots[i + 1]! - roots[i]!).toBeCloseTo(roots[i]! - roots[i - 1]!, 6);
  });

  it("cosine ᾱ_t follows the closed form f((t+1)/T)/f(0) of Nichol & Dhariwal (eq. 17) until β hits its cap", () => {
    const T = 1000;
    const { betas, alphasCumprod } = noiseSchedule({ numTrainTimesteps: T, betaSchedule: "cosine", betaStart: 0, betaEnd: 0 });
    const f0 = cosineAlphaBar(0);
    for (const t of [0, 1, 10, 100, 250, 500, 750, 900, 990]) {
      expect(alphasCumprod[t]! / (cosineAlphaBar((t + 1) / T) / f0)).toBeCloseTo(1, 4);
    }
    // ᾱ at the midpoint: cos²((0.5 + s)/(1 + s)·π/2)/cos²(s/(1 + s)·π/2) with s = 0.008.
    const s = 0.008;
    const half = Math.cos(((0.5 + 1 / T + s) / (1 + s)) * (Math.PI / 2)) ** 2 / Math.cos((s / (1 + s)) * (Math.PI / 2)) ** 2;
    expect(alphasCumprod[T / 2]!).toBeCloseTo(half, 5);
    // The cap: β never exceeds 0.999, and the last β is capped.
    expect(Math.max(...betas)).toBeLessThanOrEqual(Math.fround(0.999));
    expect(betas[T - 1]).toBe(Math.fround(0.999));
  });

  it('"cosine" is an alias of "squaredcos_cap_v2"', () => {
    const a = betasForSchedule({ numTrainTimesteps: 100, betaSchedule: "cosine", betaStart: 0, betaEnd: 0 });
    const b = betasForSchedule({ numTrainTimesteps: 100, betaSchedule: "squaredcos_cap_v2", betaStart: 0, betaEnd: 0 });
    expect(a).toEqual(b);
  });

  it("torch-style float32 linspace and float64-accumulated cumprod", () => {
    expect(linspaceFloat32(0, 1, 1)).toEqual([0]);
    expect(linspaceFloat32(0, 1, 5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(cumprodFloat32([0.5, 0.5, 0.5])).toEqual([0.5, 0.25, 0.125]);
  });

  it("refuses unknown schedules, bad sizes and betas outside (0, 1)", () => {
    const base = { numTrainTimesteps: 10, betaStart: 1e-4, betaEnd: 0.02 };
    expect(() => betasForSchedule({ ...base, betaSchedule: "sigmoid" as BetaSchedule })).toThrow(/unknown betaSchedule "sigmoid"/);
    expect(() => betasForSchedule({ ...base, numTrainTimesteps: 0, betaSchedule: "linear" })).toThrow(/numTrainTimesteps must be a positive integer/);
    expect(() => betasForSchedule({ ...base, betaEnd: 1.5, betaSchedule: "linear" })).toThrow(/must lie in \(0, 1\)/);
    expect(() => betasForSchedule({ ...base, betaSchedule: "linear", trainedBetas: [0.1] })).toThrow(/trainedBetas has 1 values/);
  });
});

describe("timestep spacing", () => {
  const fixture = readSchedulerFixture<TimestepsFixture>("timesteps");

  it("numpy's round: halves go to the even neighbour", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 499.5, 498.5, 2.4, 2.6].map(roundHalfToEven)).toEqual([0, 2, 2, 0, -2, 500, 498, 2, 3]);
    expect(Object.is(roundHalfToEven(-0.4), -0)).toBe(false);
  });

  it.each(fixture.cases.map((c) => [`${c.spacing} T=${c.numTrainTimesteps} n=${c.numInferenceSteps} offset=${c.stepsOffset}`, c] as const))(
    "%s matches diffusers",
    (_, c) => {
      const ours = spacedTimesteps(c.spacing as TimestepSpacing, c.numTrainTimesteps, c.numInferenceSteps, c.stepsOffset);
      // diffusers keeps a spurious −1 that numpy's arange adds in "trailing" for some n (e.g. 61 of 1000); we drop it.
      expect(ours).toEqual(c.timesteps.filter((t) => t >= 0));
      expect(ours).toHaveLength(c.numInferenceSteps);
    },
  );

  it('"trailing" gives n timesteps for every n ≤ 1000 (diffusers sometimes n + 1, ending in −1)', () => {
    for (let n = 1; n <= 1000; n++) {
      const ours = spacedTimesteps("trailing", 1000, n);
      expect(ours).toHaveLength(n);
      const theirs = fixture.trailingLengthsT1000[n - 1]!;
      expect(theirs === n || (theirs === n + 1 && ours[n - 1]! >= 0)).toBe(true);
    }
  });

  it("hand-checked values", () => {
    expect(spacedTimesteps("leading", 1000, 10)).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    expect(spacedTimesteps("leading", 1000, 10, 1)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(spacedTimesteps("trailing", 1000, 10)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(spacedTimesteps("linspace", 1000, 4)).toEqual([999, 666, 333, 0]);
    expect(spacedTimesteps("linspace", 1000, 3)).toEqual([999, 500, 0]); // 499.5 rounds to even
  });

  it("clear errors on zero steps, too many steps, unknown spacing and offsets past T", () => {
    expect(() => spacedTimesteps("leading", 1000, 0)).toThrow(/numInferenceSteps must be a positive integer, got 0/);
    expect(() => spacedTimesteps("leading", 1000, 2.5)).toThrow(/positive integer/);
    expect(() => spacedTimesteps("leading", 1000, 1001)).toThrow(/cannot exceed numTrainTimesteps \(1000\)/);
    expect(() => spacedTimesteps("karras" as TimestepSpacing, 1000, 10)).toThrow(/unknown timestepSpacing "karras"/);
    expect(() => spacedTimesteps("leading", 1000, 1000, 1)).toThrow(/past the last training timestep 999/);
  });
});

describe("forward process and targets", () => {
  const fixture = readSchedulerFixture<ForwardFixture>("forward");
  const shape = fixture.shape;

  it.each(fixture.cases.map((c) => [c.betaSchedule, c] as const))("%s: addNoise and velocity match the reference", (_, c) => {
    const { alphasCumprod } = noiseSchedule({ numTrainTimesteps: 1000, betaSchedule: c.betaSchedule as BetaSchedule, betaStart: 1e-4, betaEnd: 0.02 });
    const before = tf.memory().numTensors;
    const x0 = tf.tensor(c.original, shape);
    const eps = tf.tensor(c.noise, shape);
    const noisy = addNoise(alphasCumprod, x0, eps, c.timesteps);
    const timesteps = tf.tensor1d(c.timesteps, "int32"); // a tensor of timesteps works as well as a list
    const v = velocity(alphasCumprod, x0, eps, timesteps);
    expect(noisy.shape).toEqual(shape);
    expect(scaledMaxError(noisy.dataSync(), c.noisy)).toBeLessThan(1e-6);
    expect(scaledMaxError(v.dataSync(), c.velocity)).toBeLessThan(1e-6);
    // ε-target: the noise; v-target: the velocity; x_0-target: the sample.
    const target = trainingTarget("v_prediction", alphasCumprod, x0, eps, c.timesteps);
    expect(scaledMaxError(target.dataSync(), c.velocity)).toBeLessThan(1e-6);
    const epsTarget = trainingTarget("epsilon", alphasCumprod, x0, eps, c.timesteps);
    expect(Array.from(epsTarget.dataSync())).toEqual(Array.from(eps.dataSync()));
    tf.dispose([x0, eps, timesteps, noisy, v, target, epsTarget]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("one timestep broadcasts over the batch; bad timesteps and shapes are refused", () => {
    const { alphasCumprod } = noiseSchedule({ numTrainTimesteps: 10, betaSchedule: "linear", betaStart: 0.01, betaEnd: 0.2 });
    const before = tf.memory().numTensors;
    const x0 = tf.ones([3, 2]);
    const eps = tf.zeros([3, 2]);
    const noisy = addNoise(alphasCumprod, x0, eps, 4);
    expect(noisy.dataSync()[5]).toBeCloseTo(Math.sqrt(alphasCumprod[4]!), 6);
    expect(() => addNoise(alphasCumprod, x0, eps, 10)).toThrow(/timestep 10 is not an integer in \[0, 10\)/);
    expect(() => addNoise(alphasCumprod, x0, eps, [1, 2])).toThrow(/2 timesteps for a batch of shape \[3, 2\]/);
    expect(() => addNoise(alphasCumprod, x0, tf.zeros([2, 2]), 1)).toThrow(/noise has shape \[2, 2\]/);
    tf.dispose([x0, eps, noisy]);
    expect(tf.memory().numTensors).toBe(before + 1); // the zeros([2, 2]) made inside the expectation above
  });
});
