import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { DDIMScheduler, DDIM_SCHEDULER_DEFAULTS, type DDIMSchedulerOptions } from "./ddim-scheduler.js";
import { RandomGenerator } from "./random.js";
import { readSchedulerFixture, runTrajectory, scaledMaxError, type TrajectoriesFixture } from "./testing/scheduler-fixtures.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("DDIMScheduler", () => {
  const fixture = readSchedulerFixture<TrajectoriesFixture>("trajectories");
  const cases = fixture.cases.filter((c) => c.scheduler === "DDIM");

  it("has diffusers' defaults", () => {
    const scheduler = new DDIMScheduler();
    expect(scheduler.config).toEqual(DDIM_SCHEDULER_DEFAULTS);
    expect(scheduler.config.setAlphaToOne).toBe(true);
    expect(scheduler.finalAlphaCumprod).toBe(1);
    expect(new DDIMScheduler({ setAlphaToOne: false }).finalAlphaCumprod).toBe(scheduler.alphasCumprod[0]);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s: every step matches the float32 reference within 1e-5", (_, c) => {
    const scheduler = new DDIMScheduler(c.config as DDIMSchedulerOptions);
    const before = tf.memory().numTensors;
    const { stepError, originalError, finalError } = runTrajectory(scheduler, c, fixture.shape);
    expect(stepError).toBeLessThan(1e-5);
    expect(originalError).toBeLessThan(1e-5);
    expect(finalError).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the previous timestep is t − ⌊T/n⌋ whatever the spacing", () => {
    const scheduler = new DDIMScheduler({ timestepSpacing: "linspace" });
    scheduler.setTimesteps(7);
    expect(scheduler.timesteps).toEqual([999, 832, 666, 500, 333, 166, 0]); // 166.5 rounds to even
    expect(scheduler.previousTimestep(832)).toBe(832 - 142);
    expect(scheduler.previousTimestep(0)).toBe(-142);
  });

  it("with η = 0 the trajectory is deterministic and inverts exactly (Song et al. eq. 12 run backwards)", () => {
    const scheduler = new DDIMScheduler({ clipSample: false, betaSchedule: "squaredcos_cap_v2" });
    scheduler.setTimesteps(12);
    const shape = [2, 3, 3, 2];
    const generator = new RandomGenerator(11);
    const start = generator.normal(shape);
    const outputs = scheduler.timesteps.map(() => tf.mul(0.8, generator.normal(shape)));
    const before = tf.memory().numTensors;

    // Forward: x_T → x_0 with fixed model outputs ε̂_k.
    let x = tf.clone(start);
    scheduler.timesteps.forEach((t, k) => {
      const { prevSample, predOriginalSample } = scheduler.step(outputs[k]!, t, x, { eta: 0 });
      tf.dispose([x, predOriginalSample]);
      x = prevSample;
    });

    // Backward: x_t = √ᾱ_t·x̂_0 + √(1−ᾱ_t)·ε̂ with x̂_0 = (x_t' − √(1−ᾱ_t')·ε̂)/√ᾱ_t'.
    const step = scheduler.config.numTrainTimesteps / scheduler.numInferenceSteps!;
    for (let k = scheduler.timesteps.length - 1; k >= 0; k--) {
      const t = scheduler.timesteps[k]!;
      const tPrev = t - Math.floor(step);
      const ap = tPrev >= 0 ? scheduler.alphasCumprod[tPrev]! : scheduler.finalAlphaCumprod;
      const a = scheduler.alphasCumprod[t]!;
      const next = tf.tidy(() => {
        const x0 = tf.div(tf.sub(x, tf.mul(Math.sqrt(1 - ap), outputs[k]!)), Math.sqrt(ap));
        return tf.add(tf.mul(Math.sqrt(a), x0), tf.mul(Math.sqrt(1 - a), outputs[k]!));
      });
      x.dispose();
      x = next;
    }
    expect(scaledMaxError(x.dataSync(), start.dataSync())).toBeLessThan(1e-4);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([start, ...outputs]);
  });

  it("with the true ε (or v) and η = 0 one step lands on √ᾱ_t'·x_0 + √(1−ᾱ_t')·ε", () => {
    for (const predictionType of ["epsilon", "v_prediction"] as const) {
      const scheduler = new DDIMScheduler({ clipSample: false, predictionType });
      scheduler.setTimesteps(20);
      const t = scheduler.timesteps[5]!;
      const tPrev = scheduler.previousTimestep(t);
      const x0 = tf.tensor([[0.5, -0.25, 0.75]]);
      const eps = tf.tensor([[-1, 0.5, 2]]);
      const xt = scheduler.addNoise(x0, eps, t);
      const target = scheduler.trainingTarget(x0, eps, t);
      const { prevSample, predOriginalSample } = scheduler.step(target, t, xt);
      const expected = scheduler.addNoise(x0, eps, tPrev);
      expect(scaledMaxError(prevSample.dataSync(), expected.dataSync())).toBeLessThan(1e-5);
      expect(scaledMaxError(predOriginalSample.dataSync(), x0.dataSync())).toBeLessThan(1e-5);
      tf.dispose([x0, eps, xt, target, prevSample, predOriginalSample, expected]);
    }
  });

  it("η > 0 adds seeded noise: same seed same result, η = 0 ignores randomness", () => {
    const scheduler = new DDIMScheduler();
    scheduler.setTimesteps(10);
    const x = tf.ones([1, 6]);
    const eps = tf.fill([1, 6], 0.1);
    const run = (options: { eta?: number; seed?: number }) => {
      const out = scheduler.step(eps, 500, x, options);
      const values = Array.from(out.prevSample.dataSync());
      tf.dispose([out.prevSample, out.predOriginalSample]);
      return values;
    };
    expect(run({ eta: 1, seed: 3 })).toEqual(run({ eta: 1, seed: 3 }));
    expect(run({ eta: 1, seed: 3 })).not.toEqual(run({ eta: 1, seed: 4 }));
    expect(run({ eta: 0, seed: 3 })).toEqual(run({ eta: 0, seed: 4 }));
    expect(run({ eta: 1 })).not.toEqual(run({ eta: 1 })); // the scheduler's own generator advances
    tf.dispose([x, eps]);
  });

  it("leaves tf.memory().numTensors unchanged across a sampling loop", () => {
    const scheduler = new DDIMScheduler({ predictionType: "v_prediction", timestepSpacing: "trailing" });
    scheduler.setTimesteps(8);
    const modelOutput = tf.randomNormal([1, 4, 4, 3], 0, 1, "float32", 5);
    let x = tf.randomNormal([1, 4, 4, 3], 0, 1, "float32", 6);
    const before = tf.memory().numTensors;
    for (const t of scheduler.timesteps) {
      const { prevSample, predOriginalSample } = scheduler.step(modelOutput, t, x, { eta: 0.7 });
      tf.dispose([x, predOriginalSample]);
      x = prevSample;
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, modelOutput]);
  });

  it("gives clear errors on bad input", () => {
    expect(() => new DDIMScheduler({ betaSchedule: "laplace" as never })).toThrow(/unknown betaSchedule "laplace"/);
    expect(() => new DDIMScheduler({ predictionType: "noise" as never })).toThrow(/unknown predictionType/);
    expect(() => new DDIMScheduler({ eta: 0.5 } as never)).toThrow(/unknown option "eta"/);
    expect(() => new DDIMScheduler({ stepsOffset: -1 })).toThrow(/stepsOffset must be a non-negative integer/);
    const scheduler = new DDIMScheduler();
    const x = tf.zeros([1, 4]);
    expect(() => scheduler.step(x, 999, x)).toThrow(/call setTimesteps\(numInferenceSteps\) before stepping/);
    expect(() => scheduler.setTimesteps(0)).toThrow(/numInferenceSteps must be a positive integer, got 0/);
    expect(() => scheduler.setTimesteps(2000)).toThrow(/cannot exceed numTrainTimesteps \(1000\)/);
    scheduler.setTimesteps(50);
    expect(() => scheduler.step(x, 999, x)).toThrow(/timestep 999 is not one of the 50 timesteps set by setTimesteps\(50\) \(980, 960/);
    expect(() => scheduler.step(x, 980, x, { eta: -0.1 })).toThrow(/eta must be a finite number ≥ 0/);
    expect(() => scheduler.step(x, 980, tf.zeros([2, 4]))).toThrow(/modelOutput has shape \[1, 4\] but sample has \[2, 4\]/);
    expect(() => scheduler.step(x, 980, x, { eta: 1, noise: x, generator: new RandomGenerator() })).toThrow(/only one of/);
    expect(() => new DDIMScheduler({ stepsOffset: 1 }).setTimesteps(1000)).toThrow(/past the last training timestep/);
    tf.dispose([x]);
  });
});
