import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { parseSafetensors, toFloat32 } from "@proj/clip";
import { beforeAll, describe, expect, it } from "vitest";
import { DiffusionPrior, TINY_PRIOR } from "./diffusion-prior.js";
import { sample } from "./sample.js";
import { trainDecoder, trainUpsampler, type DecoderBatch } from "./train-decoder.js";
import { trainPrior, type PriorBatch } from "./train-prior.js";
import { modelFromTrainingCheckpoint } from "./training-checkpoint.js";
import { UNet } from "./unet.js";
import { TINY_DECODER, TINY_UPSAMPLER } from "./unet-config.js";

/** Four 16×16 pictures that differ in colour and layout: a red square, a blue disc, green stripes, a yellow cross. */
function pictures(size = 16): Float32Array[] {
  const make = (f: (x: number, y: number) => [number, number, number]) => {
    const out = new Float32Array(size * size * 3);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out.set(f(x / size, y / size), (y * size + x) * 3);
    return out;
  };
  return [
    make((x, y) => (x > 0.25 && x < 0.75 && y > 0.25 && y < 0.75 ? [0.9, 0.1, 0.1] : [1, 1, 1])),
    make((x, y) => ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1 ? [0.1, 0.2, 0.9] : [0.05, 0.05, 0.05])),
    make((x) => (Math.floor(x * 4) % 2 === 0 ? [0.1, 0.8, 0.2] : [0.9, 0.9, 0.9])),
    make((x, y) => (Math.abs(x - 0.5) < 0.12 || Math.abs(y - 0.5) < 0.12 ? [0.95, 0.85, 0.1] : [0.3, 0.3, 0.35])),
  ];
}

/** An endless stream of batches: every picture `repeat` times, with its fixed embedding. */
async function* decoderBatches(images: Float32Array[], embeddings: number[][], repeat: number): AsyncGenerator<DecoderBatch> {
  const size = Math.round(Math.sqrt(images[0]!.length / 3));
  for (;;) {
    const order = images.flatMap((_, i) => new Array<number>(repeat).fill(i));
    const pixels = new Float32Array(order.length * images[0]!.length);
    order.forEach((i, row) => pixels.set(images[i]!, row * images[0]!.length));
    yield {
      images: tf.tensor4d(pixels, [order.length, size, size, 3]),
      imageEmbeddings: tf.tensor2d(order.map((i) => embeddings[i]!)),
    };
  }
}

const randomUnitVectors = (n: number, dim: number, seed: number): number[][] => {
  const t = tf.tidy(() => {
    const x = tf.randomNormal([n, dim], 0, 1, "float32", seed);
    return tf.div(x, tf.norm(x, 2, 1, true));
  });
  const rows = t.arraySync() as number[][];
  t.dispose();
  return rows;
};

const meanSquaredError = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return sum / a.length;
};

describe("training (tiny models on wasm: learning, resume, abort, memory)", { timeout: 240_000 }, () => {
  beforeAll(async () => {
    await tf.setBackend("wasm");
  });

  it("the decoder overfits four pictures: samples for a picture's embedding reconstruct it, far better than the others", async () => {
    const images = pictures();
    const embeddings = randomUnitVectors(4, TINY_DECODER.clipEmbedDim, 11);
    // TINY_DECODER predicts v: with the cosine schedule's ᾱ_T ≈ 2e-9, an ε-predicting model's small errors at t ≈ T
    // are amplified 1/√ᾱ_t-fold in x̂_0 and an undertrained one samples noise (seen in this test's first version).
    const decoder = new UNet(TINY_DECODER, { seed: 3 });
    const before = tf.memory().numTensors;
    const started = performance.now();
    const result = await trainDecoder(decoder, decoderBatches(images, embeddings, 2), { steps: 250, learningRate: 4e-3, warmupSteps: 20, emaDecay: 0.98, seed: 1 });
    const seconds = (performance.now() - started) / 1000;
    expect(tf.memory().numTensors).toBe(before); // the batches were disposed, nothing else stayed
    const head = result.losses.slice(0, 20).reduce((a, b) => a + b) / 20;
    const tail = result.losses.slice(-50).reduce((a, b) => a + b) / 50;
    console.log(`decoder: 250 steps of batch 8 in ${seconds.toFixed(1)} s; loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    expect(tail).toBeLessThan(head * 0.5);

    const conditioning = tf.tensor2d(embeddings);
    const samples = await sample(decoder, { imageEmbeddings: conditioning, numInferenceSteps: 25, guidanceScale: 1, seed: 5 });
    const values = await samples.data();
    tf.dispose([conditioning, samples]);
    decoder.dispose();
    const plane = images[0]!.length;
    const errors = images.map((_, s) => images.map((image) => meanSquaredError(values.subarray(s * plane, (s + 1) * plane), image)));
    for (let s = 0; s < 4; s++) {
      const own = errors[s]![s]!;
      const others = Math.min(...errors[s]!.filter((_, i) => i !== s));
      console.log(`sample for picture ${s}: MSE to its picture ${own.toFixed(4)}, to the nearest other ${others.toFixed(4)}`);
      expect(own).toBeLessThan(0.5 * others);
    }
  });

  it("the prior's loss falls well below predicting the mean embedding", async () => {
    const E = TINY_PRIOR.clipEmbedDim;
    const config = { ...TINY_PRIOR, textTokenDim: 0 };
    const prior = new DiffusionPrior(config, { seed: 2 });
    // 64 pairs: the image embedding is a fixed random rotation-like map of the text embedding
    const texts = randomUnitVectors(64, E, 21);
    const map = tf.randomNormal([E, E], 0, 1, "float32", 22);
    const imagesTensor = tf.tidy(() => {
      const y = tf.matMul(tf.tensor2d(texts), map);
      return tf.div(y, tf.norm(y, 2, 1, true));
    });
    const imagesRows = imagesTensor.arraySync() as number[][];
    tf.dispose([map, imagesTensor]);
    async function* batches(): AsyncGenerator<PriorBatch> {
      for (let k = 0; ; k++) {
        const rows = Array.from({ length: 32 }, (_, i) => (k * 32 + i) % 64);
        yield { textEmbeddings: tf.tensor2d(rows.map((r) => texts[r]!)), imageEmbeddings: tf.tensor2d(rows.map((r) => imagesRows[r]!)) };
      }
    }
    const result = await trainPrior(prior, batches(), { steps: 300, learningRate: 2e-3, warmupSteps: 20, emaDecay: 0.99, seed: 4 });
    prior.dispose();
    // Baseline: the MSE of predicting the mean of x_0 = √E·ẑ_i for every pair (what a model that ignores the text and x_t can do at best).
    const mean = new Array<number>(E).fill(0).map((_, d) => imagesRows.reduce((s, r) => s + r[d]! * Math.sqrt(E), 0) / 64);
    const baseline = imagesRows.reduce((s, r) => s + r.reduce((t, v, d) => t + (v * Math.sqrt(E) - mean[d]!) ** 2, 0) / E, 0) / 64;
    const tail = result.losses.slice(-50).reduce((a, b) => a + b) / 50;
    console.log(`prior: loss ${result.losses[0]!.toFixed(3)} → ${tail.toFixed(3)}; predict-the-mean baseline ${baseline.toFixed(3)}`);
    expect(tail).toBeLessThan(0.5 * baseline);
  });

  it("resume continues exactly: 2 + 2 steps equal 4 steps; abort writes a checkpoint and rejects with AbortError", async () => {
    const images = pictures();
    const embeddings = randomUnitVectors(4, TINY_DECODER.clipEmbedDim, 11);
    const options = { steps: 4, learningRate: 1e-3, warmupSteps: 1, seed: 9 };
    const saved: Uint8Array[] = [];
    const straight = new UNet(TINY_DECODER, { seed: 3 });
    await trainDecoder(straight, decoderBatches(images, embeddings, 1), { ...options, checkpoint: { every: 4, save: (bytes) => void saved.push(bytes) } });
    // The checkpoint's EMA model is what training leaves in the module (the EMA is copied in at the end); raw differs.
    const fromEma = modelFromTrainingCheckpoint(saved[0]!);
    const fromRaw = modelFromTrainingCheckpoint(saved[0]!, { weights: "raw" });
    expect(fromEma).toBeInstanceOf(UNet);
    const finalWeights = straight.namedParameters();
    let rawDiffers = false;
    for (const [key, emaWeight] of fromEma.namedParameters()) {
      const expected = Array.from(await finalWeights.get(key)!.data());
      expect(Array.from(await emaWeight.data()), key).toEqual(expected);
      const raw = await fromRaw.namedParameters().get(key)!.data();
      rawDiffers ||= raw.some((v, i) => v !== expected[i]);
    }
    expect(rawDiffers).toBe(true);
    fromEma.dispose();
    fromRaw.dispose();
    expect(() => modelFromTrainingCheckpoint(straight.toSafetensors())).toThrow(/not a training checkpoint \(format "proj-unclip-unet"/);
    straight.dispose();

    const first = new UNet(TINY_DECODER, { seed: 3 });
    const halfway: Uint8Array[] = [];
    const controller = new AbortController();
    const run = trainDecoder(first, decoderBatches(images, embeddings, 1), {
      ...options,
      signal: controller.signal,
      onProgress: ({ step }) => {
        if (step === 2) controller.abort();
      },
      checkpoint: { every: 100, save: (bytes) => void halfway.push(bytes) },
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    first.dispose();
    expect(halfway).toHaveLength(1);
    expect(parseSafetensors(halfway[0]!).metadata.step).toBe("2");

    const resumed = new UNet(TINY_DECODER, { seed: 77 }); // other initial weights: all come from the checkpoint
    const batches = decoderBatches(images, embeddings, 1);
    for (let i = 0; i < 2; i++) {
      const { value } = await batches.next();
      tf.dispose([value!.images, value!.imageEmbeddings]);
    }
    const resumedSaves: Uint8Array[] = [];
    const result = await trainDecoder(resumed, batches, { ...options, resume: halfway[0]!, checkpoint: { every: 4, save: (bytes) => void resumedSaves.push(bytes) } });
    resumed.dispose();
    expect(result.step).toBe(4);
    expect(result.losses).toHaveLength(2);
    const a = parseSafetensors(saved[0]!);
    const b = parseSafetensors(resumedSaves[0]!);
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [key, t] of a.tensors) {
      expect(Array.from(toFloat32(b.tensors.get(key)!)), key).toEqual(Array.from(toFloat32(t)));
    }
  });

  it("the upsampler trains (loss falls) and bad input is named", async () => {
    const upsampler = new UNet(TINY_UPSAMPLER, { seed: 1 });
    const big = pictures(32);
    async function* batches() {
      for (;;) {
        const pixels = new Float32Array(8 * big[0]!.length);
        for (let i = 0; i < 8; i++) pixels.set(big[i % 4]!, i * big[0]!.length);
        yield { images: tf.tensor4d(pixels, [8, 32, 32, 3]) };
      }
    }
    const before = tf.memory().numTensors;
    const result = await trainUpsampler(upsampler, batches(), { steps: 40, learningRate: 3e-3, warmupSteps: 5, cropSize: 16 });
    expect(tf.memory().numTensors).toBe(before);
    const head = result.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const tail = result.losses.slice(-10).reduce((a, b) => a + b) / 10;
    console.log(`upsampler: loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    expect(tail).toBeLessThan(head);

    const decoder = new UNet(TINY_DECODER);
    async function* wrong(): AsyncGenerator<DecoderBatch> {
      yield { images: tf.zeros([2, 8, 8, 3]) as tf.Tensor4D, imageEmbeddings: tf.zeros([2, 32]) as tf.Tensor2D };
    }
    await expect(trainDecoder(decoder, wrong(), { steps: 1 })).rejects.toThrow(/batch images must be \[B, 16, 16, 3\] in \[0, 1\], got \[2, 8, 8, 3\]/);
    async function* narrow(): AsyncGenerator<DecoderBatch> {
      yield { images: tf.zeros([2, 16, 16, 3]) as tf.Tensor4D, imageEmbeddings: tf.zeros([2, 8]) as tf.Tensor2D };
    }
    await expect(trainDecoder(decoder, narrow(), { steps: 1 })).rejects.toThrow(/imageEmbeddings must be \[2, 32\], got \[2, 8\]/);
    await expect(trainDecoder(decoder, narrow(), { steps: 0 })).rejects.toThrow(/steps must be a positive integer, got 0/);
    async function* empty(): AsyncGenerator<DecoderBatch> {}
    await expect(trainDecoder(decoder, empty(), { steps: 2 })).rejects.toThrow(/the batches ran out after 0 steps \(of 2\)/);
    await expect(trainUpsampler(decoder, batches(), { steps: 1 })).rejects.toThrow(/not an upsampler/);
    decoder.dispose();
    upsampler.dispose();
  });
});
