import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { timestepEmbedding } from "./timestep-embedding.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("timestepEmbedding", () => {
  it("is [cos(t·f), sin(t·f)] with f_i = 10000^(−i/half), as guided-diffusion", () => {
    const dim = 6;
    const got = timestepEmbedding([0, 3, 999.5], dim);
    expect(got.shape).toEqual([3, 6]);
    const values = got.arraySync();
    [0, 3, 999.5].forEach((t, row) => {
      for (let i = 0; i < 3; i++) {
        const f = Math.exp((-Math.log(10000) * i) / 3);
        expect(values[row]![i]).toBeCloseTo(Math.cos(t * f), 3);
        expect(values[row]![i + 3]).toBeCloseTo(Math.sin(t * f), 3);
      }
    });
    got.dispose();
  });

  it("pads odd widths with a zero column, takes tensors, leaks nothing, rejects bad arguments", () => {
    const before = tf.memory().numTensors;
    const t = tf.tensor1d([5, 7], "int32");
    const odd = timestepEmbedding(t, 5);
    expect(odd.shape).toEqual([2, 5]);
    expect(odd.arraySync().map((r) => r[4])).toEqual([0, 0]);
    tf.dispose([t, odd]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => timestepEmbedding([1], 0)).toThrow(/dim must be a positive integer/);
  });
});
