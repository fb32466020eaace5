import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { clipGradNorm } from "./grad-norm.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("clipGradNorm", () => {
  it("scales all gradients by maxNorm / norm when the global norm is larger, and leaves them otherwise", () => {
    const a = tf.tensor1d([3, 0]);
    const b = tf.tensor2d([0, 4], [1, 2]); // global norm 5
    const before = tf.memory().numTensors;
    const clipped = clipGradNorm(new Map<string, tf.Tensor>([["a", a], ["b", b]]), 1);
    expect(clipped.totalNorm.dataSync()[0]).toBeCloseTo(5, 6);
    expect(Array.from(clipped.grads.get("a")!.dataSync())).toEqual([expect.closeTo(0.6, 6), 0]);
    expect(Array.from(clipped.grads.get("b")!.dataSync())).toEqual([0, expect.closeTo(0.8, 6)]);
    expect(clipped.grads.get("b")!.shape).toEqual([1, 2]);
    const loose = clipGradNorm({ a, b }, 10);
    expect(Array.from(loose.grads.get("a")!.dataSync())).toEqual([3, 0]);
    tf.dispose([clipped.totalNorm, ...clipped.grads.values(), loose.totalNorm, ...loose.grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => clipGradNorm({ a }, 0)).toThrow(/maxNorm/);
    tf.dispose([a, b]);
  });
});
