import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clipFromSafetensors, type ClipModel } from "../clip-model.js";
import { relativeError } from "../testing/fixtures.js";
import { TINY_TRAINING_CONFIG, syntheticPairs, tokenizeCaptions } from "../testing/synthetic-pairs.js";
import { DataParallelClip } from "./data-parallel.js";
import { contrastiveGradients, type ContrastiveBatch } from "./grad-cache.js";
import { initClip } from "./init.js";
import { trainClip, type ClipTrainingBatch } from "./clip-trainer.js";

// The workers run the TypeScript sources through tsx (the published build runs data-parallel-worker.js).
const WORKER = {
  workerUrl: new URL("../testing/tsx-worker.mjs", import.meta.url),
  workerOptions: { workerData: { entry: new URL("./data-parallel-worker.ts", import.meta.url).href } },
};
const N = 10;
let batch: ContrastiveBatch;
let model: ClipModel;

beforeAll(async () => {
  await tf.setBackend("wasm");
  const { images, captions } = syntheticPairs(5, N);
  const R = TINY_TRAINING_CONFIG.imageResolution;
  batch = {
    images: tf.tensor4d(images, [N, R, R, 3]),
    ids: tf.tensor2d(tokenizeCaptions(captions), [N, TINY_TRAINING_CONFIG.contextLength], "int32"),
  };
  model = clipFromSafetensors(initClip(TINY_TRAINING_CONFIG, { seed: 1 }), { trainable: true });
});

afterAll(() => {
  tf.dispose([batch.images, batch.ids]);
  model.dispose();
});

async function read(result: { loss: tf.Scalar; accuracy: tf.Scalar; grads: Map<string, tf.Tensor> }) {
  const grads = new Map<string, Float32Array>();
  for (const [key, g] of result.grads) grads.set(key, (await g.data()) as Float32Array);
  const out = { loss: (await result.loss.data())[0]!, accuracy: (await result.accuracy.data())[0]!, grads };
  tf.dispose([result.loss, result.accuracy, ...result.grads.values()]);
  return out;
}

describe("DataParallelClip", () => {
  it("gives the single-thread gradients with the batch split over the main thread and a worker", async () => {
    const single = await read(contrastiveGradients(model, batch));
    const parallel = await DataParallelClip.start(model, { workers: 1, ...WORKER });
    try {
      const before = tf.memory().numTensors;
      for (const chunkSize of [undefined, 2]) {
        const split = await read(await parallel.gradients(batch, chunkSize));
        expect(split.loss).toBeCloseTo(single.loss, 5);
        expect(split.accuracy).toBe(single.accuracy);
        expect([...split.grads.keys()].sort()).toEqual([...single.grads.keys()].sort());
        let worst = 0;
        for (const [key, g] of single.grads) worst = Math.max(worst, relativeError(split.grads.get(key)!, g));
        console.log(`data-parallel (chunk ${chunkSize ?? "whole shard"}): worst gradient relative error ${worst.toExponential(2)}`);
        expect(worst).toBeLessThan(1e-4);
      }
      expect(tf.memory().numTensors).toBe(before);
      // After an update on the main thread, the workers follow.
      const proj = model.parameters!.get("visual.positional_embedding")!;
      const saved = tf.clone(proj);
      tf.tidy(() => proj.assign(tf.add(saved, tf.randomNormal(saved.shape, 0, 0.5, "float32", 7))));
      await parallel.syncWeights();
      const moved = await read(contrastiveGradients(model, batch));
      const movedSplit = await read(await parallel.gradients(batch));
      expect(movedSplit.loss).toBeCloseTo(moved.loss, 5);
      expect(movedSplit.loss).not.toBeCloseTo(single.loss, 3);
      proj.assign(saved);
      saved.dispose();
    } finally {
      await parallel.close();
    }
  });

  it("trains with trainClip({ workers }) to the weights of a single-thread run", async () => {
    function* stream(): Generator<ClipTrainingBatch> {
      for (let s = 0; ; s++) {
        const { images, captions } = syntheticPairs(50 + s, 12, 0.5);
        yield { images, captions: tokenizeCaptions(captions) };
      }
    }
    const run = async (workers: number) => {
      const m = clipFromSafetensors(initClip(TINY_TRAINING_CONFIG, { seed: 2 }), { trainable: true });
      const before = tf.memory().numTensors;
      await trainClip({ model: m, batches: stream(), steps: 3, learningRate: 2e-3, chunkSize: 4, workers: { workers, ...WORKER } });
      expect(tf.memory().numTensors).toBe(before);
      const weights = new Map<string, Float32Array>();
      for (const [key, v] of m.parameters!) weights.set(key, (await v.data()) as Float32Array);
      m.dispose();
      return weights;
    };
    const single = await run(0);
    const parallel = await run(1);
    let worst = 0;
    for (const [key, w] of single) {
      const p = parallel.get(key)!;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i]! - p[i]!));
    }
    console.log(`trainClip with a worker: worst weight difference after 3 steps ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
  });
});
