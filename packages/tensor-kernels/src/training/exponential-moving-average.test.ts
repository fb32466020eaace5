import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ExponentialMovingAverage } from "./exponential-moving-average.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("ExponentialMovingAverage", () => {
  it("averages d · shadow + (1 − d) · θ, copies into the parameters, and round-trips its state", () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const params = new Map([["w", w]]);
    const ema = new ExponentialMovingAverage(params, { decay: 0.5 });
    const before = tf.memory().numTensors;
    w.assign(tf.tensor1d([3, 6]));
    ema.update(); // 0.5·[1, 2] + 0.5·[3, 6]
    expect(Array.from(ema.average("w")!.dataSync())).toEqual([2, 4]);
    expect(tf.memory().numTensors).toBe(before + 1); // the assigned value of w, which the test made

    const state = ema.exportState();
    const other = new ExponentialMovingAverage(params, { decay: 0.5 });
    other.importState(state);
    expect(other.updateCount).toBe(1);
    other.copyTo();
    expect(Array.from(w.dataSync())).toEqual([2, 4]);
    tf.dispose([...state.values()]);
    ema.dispose();
    other.dispose();
    w.dispose();
  });

  it("warms the decay up as min(decay, (1 + t) / (10 + t))", () => {
    const w = tf.variable(tf.scalar(0));
    const ema = new ExponentialMovingAverage(new Map([["w", w]]), { decay: 0.999, warmup: true });
    expect(ema.currentDecay()).toBeCloseTo(0.1, 12);
    ema.update();
    expect(ema.currentDecay()).toBeCloseTo(2 / 11, 12);
    ema.dispose();
    w.dispose();
  });
});
