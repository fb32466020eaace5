import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { DDPMScheduler, DDPM_SCHEDULER_DEFAULTS, type DDPMSchedulerOptions } from "./ddpm-scheduler.js";
import { noiseSchedule } from "./noise-schedule.js";
import { RandomGenerator } from "./random.js";
import { readSchedulerFixture, runTrajectory, type TrajectoriesFixture } from "./testing/scheduler-fixtures.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("DDPMScheduler", () => {
  const fixture = readSchedulerFixture<TrajectoriesFixture>("trajectories");
  const cases = fixture.cases.filter((c) => c.scheduler === "DDPM");

  it("has diffusers' defaults and float32 tables", () => {
    const scheduler = new DDPMScheduler();
    expect(scheduler.config).toEqual(DDPM_SCHEDULER_DEFAULTS);
    expect(scheduler.config.clipSample).toBe(true);
    expect(scheduler.alphasCumprod).toEqual(noiseSchedule(DDPM_SCHEDULER_DEFAULTS).alphasCumprod);
    expect(scheduler.timesteps).toHaveLength(1000);
    expect(scheduler.timesteps[0]).toBe(999);
    expect(Array.isArray(scheduler.alphasCumprod)).toBe(true);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s: every step matches the float32 reference within 1e-5", (_, c) => {
    const scheduler = new DDPMScheduler(c.config as DDPMSchedulerOptions);
    const before = tf.memory().numTensors;
    const { stepError, originalError, finalError } = runTrajectory(scheduler, c, fixture.shape);
    expect(stepError).toBeLessThan(1e-5);
    expect(originalError).toBeLessThan(1e-5);
    expect(finalError).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("with the true noise, x̂_0 is exact and the mean step lands on the posterior mean (Ho et al. eq. 7)", () => {
    const scheduler = new DDPMScheduler({ clipSample: false });
    scheduler.setTimesteps(10);
    const [t, tPrev] = [scheduler.timesteps[3]!, scheduler.timesteps[4]!];
    const x0 = tf.tensor([[0.3, -0.7, 0.1, 0.9]]);
    const eps = tf.tensor([[1.2, -0.4, 0.05, -1.1]]);
    const xt = scheduler.addNoise(x0, eps, [t]);
    const { prevSample, predOriginalSample } = scheduler.step(eps, t, xt, { noise: tf.zerosLike(xt) });
    expect(Array.from(predOriginalSample.dataSync()).map((v) => +v.toFixed(4))).toEqual([0.3, -0.7, 0.1, 0.9]);
    const a = scheduler.alphasCumprod[t]!;
    const ap = scheduler.alphasCumprod[tPrev]!;
    const beta = 1 - a / ap;
    const x0v = x0.dataSync();
    const xtv = xt.dataSync();
    const expected = Array.from(x0v, (v, i) => ((Math.sqrt(ap) * beta) / (1 - a)) * v + ((Math.sqrt(a / ap) * (1 - ap)) / (1 - a)) * xtv[i]!);
    const got = prevSample.dataSync();
    expected.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    tf.dispose([x0, eps, xt, prevSample, predOriginalSample]);
  });

  it("leaves tf.memory().numTensors unchanged and the inputs alive", () => {
    const scheduler = new DDPMScheduler({ predictionType: "sample" });
    scheduler.setTimesteps(5);
    const sample = tf.randomNormal([2, 4, 4, 3], 0, 1, "float32", 1);
    const modelOutput = tf.randomNormal([2, 4, 4, 3], 0, 1, "float32", 2);
    const before = tf.memory().numTensors;
    for (const t of scheduler.timesteps) {
      const out = scheduler.step(modelOutput, t, sample);
      expect(out.prevSample.shape).toEqual(sample.shape);
      expect(out.predOriginalSample).not.toBe(modelOutput);
      tf.dispose([out.prevSample, out.predOriginalSample]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(sample.isDisposed || modelOutput.isDisposed).toBe(false);
    tf.dispose([sample, modelOutput]);
  });

  it("draws seeded noise when none is given: same seed, same result; the default generator advances", () => {
    const x = tf.ones([1, 8]);
    const eps = tf.zeros([1, 8]);
    const run = (options: { seed?: number; generator?: RandomGenerator }, scheduler = new DDPMScheduler()) => {
      scheduler.setTimesteps(10);
      const out = scheduler.step(eps, 500, x, options);
      const values = Array.from(out.prevSample.dataSync());
      tf.dispose([out.prevSample, out.predOriginalSample]);
      return values;
    };
    expect(run({ seed: 7 })).toEqual(run({ seed: 7 }));
    expect(run({ seed: 7 })).not.toEqual(run({ seed: 8 }));
    expect(run({ generator: new RandomGenerator(3) })).toEqual(run({ generator: new RandomGenerator(3) }));
    const scheduler = new DDPMScheduler();
    expect(run({}, scheduler)).not.toEqual(run({}, scheduler));
    expect(run({}, new DDPMScheduler())).toEqual(run({}, new DDPMScheduler()));
    // No noise at t = 0.
    const last = new DDPMScheduler();
    last.setTimesteps(10);
    const out = last.step(eps, 0, x, { seed: 1 });
    const again = last.step(eps, 0, x, { seed: 2 });
    expect(Array.from(out.prevSample.dataSync())).toEqual(Array.from(again.prevSample.dataSync()));
    tf.dispose([x, eps, out.prevSample, out.predOriginalSample, again.prevSample, again.predOriginalSample]);
  });

  it("without setTimesteps it walks t → t − 1 like diffusers", () => {
    const scheduler = new DDPMScheduler({ numTrainTimesteps: 20 });
    expect(scheduler.previousTimestep(7)).toBe(6);
    expect(scheduler.previousTimestep(0)).toBe(-1);
    scheduler.setTimesteps(4);
    expect(scheduler.timesteps).toEqual([15, 10, 5, 0]);
    expect(scheduler.previousTimestep(10)).toBe(5);
    expect(scheduler.previousTimestep(0)).toBe(-1);
  });

  it("gives clear errors on bad input", () => {
    expect(() => new DDPMScheduler({ betaSchedule: "sigmoid" as never })).toThrow(/unknown betaSchedule "sigmoid"/);
    expect(() => new DDPMScheduler({ varianceType: "learned" as never })).toThrow(/unknown varianceType "learned"/);
    expect(() => new DDPMScheduler({ predictionType: "noise" as never })).toThrow(/unknown predictionType "noise"/);
    expect(() => new DDPMScheduler({ timestepSpacing: "karras" as never })).toThrow(/unknown timestepSpacing/);
    expect(() => new DDPMScheduler({ numTrainSteps: 10 } as never)).toThrow(/unknown option "numTrainSteps"/);
    expect(() => new DDPMScheduler({ thresholding: true as never })).toThrow(/thresholding is not supported/);
    expect(() => new DDPMScheduler({ numTrainTimesteps: 0 })).toThrow(/numTrainTimesteps must be a positive integer/);
    const scheduler = new DDPMScheduler();
    expect(() => scheduler.setTimesteps(0)).toThrow(/numInferenceSteps must be a positive integer, got 0/);
    expect(() => scheduler.setTimesteps(1001)).toThrow(/cannot exceed numTrainTimesteps \(1000\)/);
    expect(() => scheduler.previousTimestep(1000)).toThrow(/timestep 1000 is not an integer in \[0, 1000\)/);
    scheduler.setTimesteps(10);
    const x = tf.zeros([1, 4]);
    expect(() => scheduler.step(x, 950, x)).toThrow(/timestep 950 is not one of the 10 timesteps set by setTimesteps\(10\)/);
    const wide = tf.zeros([1, 5]);
    expect(() => scheduler.step(wide, 900, x)).toThrow(/modelOutput has shape \[1, 5\] but sample has \[1, 4\]/);
    expect(() => scheduler.step(x, 900, x, { noise: wide })).toThrow(/noise has shape \[1, 5\]/);
    expect(() => scheduler.step(x, 900, x, { noise: x, seed: 1 })).toThrow(/only one of noise, generator, seed/);
    tf.dispose([x, wide]);
  });
});
