import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { AdamW } from "@proj/tensor-kernels";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clipFromSafetensors, type ClipModel } from "../clip-model.js";
import { relativeError } from "../testing/fixtures.js";
import { TINY_TRAINING_CONFIG, syntheticPairs, tokenizeCaptions } from "../testing/synthetic-pairs.js";
import { contrastiveGradients, type ContrastiveBatch } from "./grad-cache.js";
import { initClip } from "./init.js";

const N = 8;
let batch: ContrastiveBatch;

beforeAll(async () => {
  await tf.setBackend("wasm");
  const { images, captions } = syntheticPairs(3, N);
  const R = TINY_TRAINING_CONFIG.imageResolution;
  batch = {
    images: tf.tensor4d(images, [N, R, R, 3]),
    ids: tf.tensor2d(tokenizeCaptions(captions), [N, TINY_TRAINING_CONFIG.contextLength], "int32"),
  };
});

afterAll(() => {
  tf.dispose([batch.images, batch.ids]);
});

const trainable = (): ClipModel => clipFromSafetensors(initClip(TINY_TRAINING_CONFIG, { seed: 1 }), { trainable: true });

/** Loss, accuracy and gradients read back, then one AdamW step; returns them and the updated weights. */
async function step(chunkSize: number | undefined) {
  const model = trainable();
  const optimizer = new AdamW(model.parameters!, { weightDecay: 0.2, betas: [0.9, 0.98], epsilon: 1e-6 });
  const before = tf.memory().numTensors;
  const { loss, accuracy, grads } = contrastiveGradients(model, batch, { chunkSize });
  const read = async (m: ReadonlyMap<string, tf.Tensor>) =>
    new Map(await Promise.all([...m].map(async ([k, t]) => [k, (await t.data()) as Float32Array] as const)));
  const gradValues = await read(grads);
  const values = { loss: (await loss.data())[0]!, accuracy: (await accuracy.data())[0]!, grads: gradValues };
  optimizer.step(grads, 1e-3);
  tf.dispose([loss, accuracy, ...grads.values()]);
  const weights = await read(model.parameters!);
  optimizer.dispose();
  const leaked = tf.memory().numTensors - before;
  model.dispose();
  return { ...values, weights, leaked };
}

describe("contrastiveGradients", () => {
  it("gives the same loss, gradients and AdamW-updated weights with gradient caching as in one pass", async () => {
    const plain = await step(undefined);
    for (const chunkSize of [3, 4]) {
      const cached = await step(chunkSize);
      expect(cached.loss).toBeCloseTo(plain.loss, 5);
      expect(cached.accuracy).toBe(plain.accuracy);
      expect([...cached.grads.keys()].sort()).toEqual([...plain.grads.keys()].sort());
      let worstGrad = 0;
      let worstWeight = 0;
      for (const [key, g] of plain.grads) {
        const norm = Math.hypot(...g);
        if (norm > 0) worstGrad = Math.max(worstGrad, relativeError(cached.grads.get(key)!, g));
        const w = plain.weights.get(key)!;
        const wc = cached.weights.get(key)!;
        for (let i = 0; i < w.length; i++) worstWeight = Math.max(worstWeight, Math.abs(w[i]! - wc[i]!));
      }
      console.log(`chunk ${chunkSize}: worst gradient relative error ${worstGrad.toExponential(2)}, worst weight difference ${worstWeight.toExponential(2)}`);
      expect(worstGrad).toBeLessThan(1e-4);
      expect(worstWeight).toBeLessThanOrEqual(1e-5);
      expect(cached.leaked).toBe(0);
    }
    // Every parameter reaches the loss, logit_scale included.
    expect(plain.grads.size).toBe(plain.weights.size);
    expect(plain.leaked).toBe(0);
  });

  it("explains what it cannot use", () => {
    const model = trainable();
    const frozen = clipFromSafetensors(initClip(TINY_TRAINING_CONFIG, { seed: 1 }));
    const one: ContrastiveBatch = { images: tf.slice(batch.images, 0, 1), ids: tf.slice(batch.ids, 0, 1) };
    const mismatched: ContrastiveBatch = { images: batch.images, ids: tf.slice(batch.ids, 0, 5) };
    expect(() => contrastiveGradients(frozen, batch)).toThrow(/not trainable.*trainable: true/);
    expect(() => contrastiveGradients(model, one)).toThrow(/at least 2 pairs/);
    expect(() => contrastiveGradients(model, mismatched)).toThrow(/8 images but 5 captions/);
    expect(() => contrastiveGradients(model, batch, { chunkSize: 0 })).toThrow(/chunkSize must be a positive integer, got 0/);
    expect(() => contrastiveGradients(model, batch, { chunkSize: -2 })).toThrow(/chunkSize/);
    tf.dispose([one.images, one.ids, mismatched.ids]);
    model.dispose();
    frozen.dispose();
  });
});
