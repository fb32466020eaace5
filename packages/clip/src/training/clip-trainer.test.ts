import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { cosineSchedule } from "@proj/tensor-kernels";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { clipFromSafetensors, type ClipModel } from "../clip-model.js";
import { parseSafetensors } from "../safetensors.js";
import { TINY_TRAINING_CONFIG, syntheticPairs, tokenizeCaptions } from "../testing/synthetic-pairs.js";
import { trainClip, type ClipTrainingBatch, type TrainClipProgress } from "./clip-trainer.js";
import { contrastiveAccuracy } from "./contrastive-loss.js";
import { initClip } from "./init.js";
import { weightsOfTrainingCheckpoint } from "./training-checkpoint.js";

beforeAll(async () => {
  await tf.setBackend("wasm");
});

const R = TINY_TRAINING_CONFIG.imageResolution;
const T = TINY_TRAINING_CONFIG.contextLength;
const newModel = (seed = 1): ClipModel => clipFromSafetensors(initClip(TINY_TRAINING_CONFIG, { seed }), { trainable: true });

const JITTER = 0.5; // shapes move by ±0.75 px and vary in size by ±0.5 px

/** The 16 coloured shapes, freshly jittered for every step: a deterministic stream that can start at any step. */
function* pairsFrom({ step, seed }: { step: number; seed: number }, count = 16): Generator<ClipTrainingBatch> {
  for (let s = step; ; s++) {
    const { images, captions } = syntheticPairs(1000 * seed + s, count, JITTER);
    yield { images, captions: tokenizeCaptions(captions) };
  }
}

async function weightsOf(model: ClipModel): Promise<Map<string, Float32Array>> {
  return new Map(await Promise.all([...model.parameters!].map(async ([k, v]) => [k, (await v.data()) as Float32Array] as const)));
}

describe("trainClip", () => {
  it("learns the coloured shapes: matching-pair accuracy far above chance (1/16) on unseen jitter", async () => {
    const model = newModel();
    const before = tf.memory().numTensors;
    const log: TrainClipProgress[] = [];
    const steps = 80;
    const started = performance.now();
    await trainClip({
      model,
      batches: pairsFrom,
      steps,
      learningRate: cosineSchedule({ warmupSteps: 5, totalSteps: steps, peak: 5e-3 }),
      weightDecay: 0.1,
      onProgress: (p) => log.push(p),
    });
    const seconds = (performance.now() - started) / 1000;
    expect(tf.memory().numTensors).toBe(before);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const firstLoss = mean(log.slice(0, 3).map((p) => p.loss));
    const lastLoss = mean(log.slice(-10).map((p) => p.loss));
    const lastAccuracy = mean(log.slice(-10).map((p) => p.accuracy));
    // Held-out jitter (a seed the stream never used).
    const heldOut = syntheticPairs(999_999, 16, JITTER);
    const images = tf.tensor4d(heldOut.images, [16, R, R, 3]);
    const ids = tf.tensor2d(tokenizeCaptions(heldOut.captions), [16, T], "int32");
    const accuracy = tf.tidy(() => contrastiveAccuracy(model.visual.forward(images), model.text.forward(ids)).dataSync()[0]!);
    console.log(
      `synthetic CLIP on wasm: ${steps} steps of 16 pairs in ${seconds.toFixed(1)} s; loss ${firstLoss.toFixed(2)} → ${lastLoss.toFixed(2)}; ` +
        `train accuracy (last 10) ${lastAccuracy.toFixed(2)}, held-out ${accuracy.toFixed(2)} (chance 0.06)`,
    );
    expect(lastLoss).toBeLessThan(0.6 * firstLoss);
    expect(lastAccuracy).toBeGreaterThan(0.5);
    expect(accuracy).toBeGreaterThan(0.5);
    tf.dispose([images, ids]);
    model.dispose();
  });

  it("resumes from a checkpoint to the same weights as an uninterrupted run (gradient caching on)", async () => {
    const options = {
      batches: pairsFrom,
      learningRate: cosineSchedule({ warmupSteps: 2, totalSteps: 6, peak: 3e-3 }),
      chunkSize: 6,
      maxGradNorm: 1,
      seed: 4,
    };
    const straight = newModel();
    await trainClip({ ...options, model: straight, steps: 6 });
    const expected = await weightsOf(straight);
    straight.dispose();

    const saves: { bytes: Uint8Array; step: number }[] = [];
    const save = (bytes: Uint8Array, step: number) => void saves.push({ bytes, step });
    const first = newModel();
    const stopped = await trainClip({ ...options, model: first, steps: 4, checkpoint: { save, every: 3 } });
    expect(stopped.step).toBe(4);
    expect(saves.map((s) => s.step)).toEqual([3, 4]); // every 3 steps, and at the end
    first.dispose();

    const resumedModel = newModel(77); // different initial weights: the checkpoint replaces them
    const resumed = await trainClip({ ...options, seed: 0, model: resumedModel, steps: 6, checkpoint: { save, load: () => saves.at(-1)!.bytes, every: 3 } });
    expect(resumed).toMatchObject({ resumedFrom: 4, step: 6 });
    const actual = await weightsOf(resumedModel);
    for (const [key, values] of expected) expect(Array.from(actual.get(key)!), key).toEqual(Array.from(values));

    // The training checkpoint holds a plain CLIP checkpoint too.
    const plain = clipFromSafetensors(weightsOfTrainingCheckpoint(parseSafetensors(saves.at(-1)!.bytes)));
    expect(plain.logitScale).toBeCloseTo(resumedModel.logitScale, 4);
    plain.dispose();
    resumedModel.dispose();
  });

  it("writes and resumes a checkpoint file at `path`", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clip-train-"));
    const path = join(dir, "clip.safetensors");
    try {
      const model = newModel();
      await trainClip({ model, batches: pairsFrom, steps: 2, learningRate: 1e-3, checkpoint: { path, every: 1 } });
      // Caption strings go through `tokenize` (here the test's word-level vocabulary).
      const strings = (function* () {
        for (let s = 0; ; s++) yield { images: syntheticPairs(s, 8, JITTER).images, captions: syntheticPairs(s, 8, JITTER).captions };
      })();
      const again = await trainClip({ model, batches: strings, steps: 3, learningRate: 1e-3, tokenize: tokenizeCaptions, checkpoint: { path, every: 1 } });
      expect(again).toMatchObject({ resumedFrom: 2, step: 3 });
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stops promptly on abort, between steps and while waiting for data, after writing a checkpoint", async () => {
    const model = newModel();
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const saved: number[] = [];
    const counts: number[] = [];
    await expect(
      trainClip({
        model,
        batches: pairsFrom,
        steps: 50,
        learningRate: 1e-3,
        signal: controller.signal,
        checkpoint: { save: (_, step) => void saved.push(step), every: 10 },
        onProgress: ({ step }) => {
          counts.push(tf.memory().numTensors);
          if (step === 3) controller.abort();
        },
      }),
    ).rejects.toThrow(/abort/i);
    expect(saved).toEqual([3]);
    expect(new Set(counts.slice(1)).size).toBe(1); // no tensor growth from step to step
    expect(tf.memory().numTensors).toBe(before);

    const slow = new AbortController();
    const never: AsyncIterable<ClipTrainingBatch> = {
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<ClipTrainingBatch>>(() => {}) }), // a loader that never delivers
    };
    const started = performance.now();
    setTimeout(() => slow.abort(), 50);
    await expect(trainClip({ model, batches: never, steps: 5, learningRate: 1e-3, signal: slow.signal })).rejects.toThrow(/abort/i);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("explains bad batches and options", async () => {
    const model = newModel();
    const before = tf.memory().numTensors;
    const one = syntheticPairs(1, 1);
    const four = syntheticPairs(1, 4);
    const run = (batch: ClipTrainingBatch, extra: object = {}) => trainClip({ model, batches: [batch], steps: 1, learningRate: 1e-3, ...extra });
    await expect(run({ images: one.images, captions: tokenizeCaptions(one.captions) })).rejects.toThrow(/at least 2 pairs/);
    await expect(run({ images: four.images, captions: tokenizeCaptions(four.captions.slice(0, 3)) })).rejects.toThrow(/4 images but 3 captions/);
    await expect(run({ images: four.images.subarray(1), captions: tokenizeCaptions(four.captions) })).rejects.toThrow(/whole number of 16×16×3 images/);
    await expect(run({ images: four.images, captions: tokenizeCaptions(four.captions) }, { chunkSize: 0 })).rejects.toThrow(/chunkSize must be a positive integer/);
    await expect(run({ images: four.images, captions: tokenizeCaptions(four.captions) }, { steps: -1 })).rejects.toThrow(/steps/);
    await expect(run({ images: four.images, captions: tokenizeCaptions(four.captions) }, { checkpoint: { every: 0, save: () => {} } })).rejects.toThrow(/every/);
    const frozen = clipFromSafetensors(initClip(TINY_TRAINING_CONFIG));
    await expect(trainClip({ model: frozen, batches: [], steps: 1, learningRate: 1e-3 })).rejects.toThrow(/trainable: true/);
    frozen.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
