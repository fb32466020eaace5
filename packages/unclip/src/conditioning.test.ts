import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { dropConditioning, replaceDropped, textKeyBias } from "./conditioning.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("conditioning helpers", () => {
  it("dropConditioning draws each row with the given probability, deterministically per seed", () => {
    const a = dropConditioning(10_000, 0.1, 1);
    expect(a).toEqual(dropConditioning(10_000, 0.1, 1));
    expect(a).not.toEqual(dropConditioning(10_000, 0.1, 2));
    const rate = a.filter(Boolean).length / a.length;
    expect(rate).toBeGreaterThan(0.09);
    expect(rate).toBeLessThan(0.11);
    expect(dropConditioning(5, 0, 1)).toEqual([false, false, false, false, false]);
    expect(dropConditioning(5, 1, 1)).toEqual([true, true, true, true, true]);
    const embeddings = tf.zeros([3, 4]);
    expect(dropConditioning(embeddings, 0.5, 3)).toHaveLength(3);
    embeddings.dispose();
    expect(() => dropConditioning(4, 1.5, 1)).toThrow(/probability must be in \[0, 1\]/);
  });

  it("replaceDropped swaps in the null embedding row-wise and passes gradients to both", () => {
    const embeddings = tf.tensor2d([[1, 2], [3, 4]]);
    const nullEmbedding = tf.tensor1d([9, 9]);
    const out = replaceDropped(embeddings, nullEmbedding, [false, true]);
    expect(out.arraySync()).toEqual([[1, 2], [9, 9]]);
    const [ge, gn] = tf.grads((e: tf.Tensor, n: tf.Tensor) => tf.sum(replaceDropped(e as tf.Tensor2D, n, [false, true])))([embeddings, nullEmbedding]);
    expect(ge!.arraySync()).toEqual([[1, 1], [0, 0]]);
    expect(gn!.arraySync()).toEqual([1, 1]);
    tf.dispose([embeddings, nullEmbedding, out, ge!, gn!]);
  });

  it("textKeyBias masks padding and dropped rows", () => {
    const mask = tf.tensor2d([[1, 1, 0], [1, 1, 1]]);
    const bias = textKeyBias(2, 3, mask, [false, true]);
    expect(bias.shape).toEqual([2, 1, 1, 3]);
    expect(Array.from(bias.dataSync(), (v) => v + 0)).toEqual([0, 0, -1e9, -1e9, -1e9, -1e9]); // +0 folds −0
    tf.dispose([mask, bias]);
  });
});
