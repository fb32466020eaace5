import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiffusionPrior, TINY_PRIOR } from "./diffusion-prior.js";
import { animate, createPipeline, interpolate, mix, slerp, textToImage, variations, type ImageEmbedder, type Pipeline } from "./pipeline.js";
import { sample, samplePrior, type SampleProgress } from "./sample.js";
import { UNet } from "./unet.js";
import { maxDifference } from "./testing/helpers.js";
import { clipConfigFromJson, clipFromSafetensors, initClip } from "@proj/clip";
import { TINY_DECODER, TINY_UPSAMPLER } from "./unet-config.js";

/**
 * A stand-in CLIP of width 32: an image's embedding is a fixed random projection of its mean colour and a few
 * pixel statistics; a text's embedding is a hash of its characters. Enough to check plumbing, shapes, seeds and
 * memory; learning is tested in the trainers' tests.
 */
function fakeClip(dim: number): ImageEmbedder {
  const projection = tf.randomNormal([6, dim], 0, 1, "float32", 1);
  return {
    dim,
    async embedImages(images) {
      const stats = images.map((image) => {
        const { data, channels = 3 } = image as { data: Uint8Array; channels?: number };
        const sums = [0, 0, 0, 0, 0, 0];
        for (let i = 0; i < data.length; i++) sums[(i % channels) + (i < data.length / 2 ? 0 : 3)]! += data[i]! / 255;
        return sums.map((s) => s / (data.length / channels));
      });
      return tf.tidy(() => tf.matMul(tf.tensor2d(stats), projection) as tf.Tensor2D);
    },
    async embedTexts(texts) {
      const codes = texts.map((t) => Array.from({ length: dim }, (_, i) => Math.sin((t.charCodeAt(i % t.length) ?? 1) * (i + 1))));
      return { embeddings: tf.tensor2d(codes) };
    },
  };
}

const solid = (r: number, g: number, b: number) => ({ data: new Uint8Array(Array.from({ length: 16 * 16 }, () => [r, g, b]).flat()), width: 16, height: 16, channels: 3 });

describe("sampling and the pipeline (tiny random models; plumbing, seeds, memory, errors)", { timeout: 60_000 }, () => {
  let decoder: UNet;
  let upsampler: UNet;
  let prior: DiffusionPrior;
  let pipeline: Pipeline;
  let embeddings: tf.Tensor2D;

  beforeAll(async () => {
    await tf.setBackend("wasm");
    decoder = new UNet(TINY_DECODER, { seed: 1 });
    upsampler = new UNet(TINY_UPSAMPLER, { seed: 2 });
    prior = new DiffusionPrior({ ...TINY_PRIOR, textTokenDim: 0 }, { seed: 3 });
    pipeline = createPipeline({ clip: fakeClip(32), prior, decoder });
    embeddings = tf.randomNormal([2, 32], 0, 1, "float32", 5);
  });
  afterAll(() => {
    decoder.dispose();
    upsampler.dispose();
    prior.dispose();
    embeddings.dispose();
  });

  it("sample: [N, H, W, 3] in [0, 1]; same seed ⇒ same images, another seed ⇒ others; no tensors left", async () => {
    const before = tf.memory().numTensors;
    const a = await sample(decoder, { imageEmbeddings: embeddings, numInferenceSteps: 3, seed: 7 });
    const b = await sample(decoder, { imageEmbeddings: embeddings, numInferenceSteps: 3, seed: 7 });
    const c = await sample(decoder, { imageEmbeddings: embeddings, numInferenceSteps: 3, seed: 8 });
    expect(a.shape).toEqual([2, 16, 16, 3]);
    const va = await a.data();
    expect(Math.min(...va)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...va)).toBeLessThanOrEqual(1);
    expect(Array.from(await b.data())).toEqual(Array.from(va));
    expect(Array.from(await c.data())).not.toEqual(Array.from(va));
    tf.dispose([a, b, c]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("sample: guidance defaults to the decoder's samplingDefaults (from its checkpoint), else 3", async () => {
    const trained = new UNet(TINY_DECODER).initialise(5, { zeroOutputs: false }); // outputs that depend on the embedding
    const run = async (d: UNet, guidanceScale?: number) => {
      const y = await sample(d, { imageEmbeddings: embeddings, numInferenceSteps: 3, seed: 7, guidanceScale });
      const values = Array.from(await y.data());
      y.dispose();
      return values;
    };
    const [three, two] = [await run(trained, 3), await run(trained, 2)];
    expect(two).not.toEqual(three);
    expect(await run(trained)).toEqual(three);
    trained.samplingDefaults = { guidanceScale: 2 };
    const loaded = UNet.fromSafetensors(trained.toSafetensors());
    expect(await run(loaded)).toEqual(two);
    expect(await run(loaded, 3)).toEqual(three); // an explicit scale wins
    trained.dispose();
    loaded.dispose();
  });

  it("sample: progress per step with a preview of x̂_0, and the upsampler stage", async () => {
    const before = tf.memory().numTensors;
    const events: Omit<SampleProgress, "preview">[] = [];
    let previewShape: number[] = [];
    const images = await sample(decoder, {
      imageEmbeddings: embeddings,
      numInferenceSteps: 4,
      upsampler,
      upsamplerSteps: 2,
      onProgress: (p) => {
        events.push({ stage: p.stage, step: p.step, of: p.of, timestep: p.timestep });
        if (p.stage === "decoder" && p.step === 2) {
          const preview = p.preview();
          previewShape = preview.shape;
          preview.dispose();
        }
      },
    });
    expect(images.shape).toEqual([2, 32, 32, 3]);
    images.dispose();
    expect(events.map((e) => `${e.stage} ${e.step}/${e.of}`)).toEqual(["decoder 1/4", "decoder 2/4", "decoder 3/4", "decoder 4/4", "upsampler 1/2", "upsampler 2/2"]);
    expect(events[0]!.timestep).toBe(999); // trailing spacing starts from pure noise
    expect(previewShape).toEqual([2, 16, 16, 3]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("sample: guidance 1 is the conditional model alone; guidance 0 ignores the embedding", async () => {
    const other = tf.randomNormal([2, 32], 0, 1, "float32", 6) as tf.Tensor2D;
    const unconditionalA = await sample(decoder, { imageEmbeddings: embeddings, numInferenceSteps: 2, guidanceScale: 0 });
    const unconditionalB = await sample(decoder, { imageEmbeddings: other, numInferenceSteps: 2, guidanceScale: 0 });
    expect(Array.from(await unconditionalA.data())).toEqual(Array.from(await unconditionalB.data()));
    const plain = await sample(decoder, { imageEmbeddings: embeddings, numInferenceSteps: 2, guidanceScale: 1 });
    expect(plain.shape).toEqual([2, 16, 16, 3]);
    tf.dispose([other, unconditionalA, unconditionalB, plain]);
  });

  it("sample: clear errors for bad input", async () => {
    const before = tf.memory().numTensors;
    const wide = tf.zeros([1, 64]) as tf.Tensor2D;
    const nan = tf.tensor2d([Array.from({ length: 32 }, (_, i) => (i === 3 ? NaN : 1))]);
    await expect(sample(decoder, { imageEmbeddings: wide })).rejects.toThrow(/width 64, but the model was trained on CLIP embeddings of width 32/);
    await expect(sample(decoder, { imageEmbeddings: embeddings, numInferenceSteps: 0 })).rejects.toThrow(/numInferenceSteps must be a positive integer, got 0/);
    await expect(sample(decoder, { imageEmbeddings: embeddings, guidanceScale: -1 })).rejects.toThrow(/guidanceScale must be a finite number ≥ 0, got -1/);
    await expect(sample(decoder, { imageEmbeddings: nan })).rejects.toThrow(/imageEmbeddings contains NaN or infinite values/);
    await expect(sample(decoder, { imageEmbeddings: embeddings, noise: tf.zeros([2, 8, 8, 3]) as tf.Tensor4D })).rejects.toThrow(/noise has shape \[2, 8, 8, 3\], expected \[2, 16, 16, 3\]/);
    tf.dispose([wide, nan]);
    expect(tf.memory().numTensors).toBe(before + 1); // the noise tensor the test made inline
  });

  it("sample: an abort rejects promptly with an AbortError and leaks nothing", async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    let steps = 0;
    const run = sample(decoder, {
      imageEmbeddings: embeddings,
      numInferenceSteps: 50,
      signal: controller.signal,
      onProgress: () => {
        steps++;
        if (steps === 2) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(steps).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
    const already = AbortSignal.abort();
    await expect(sample(decoder, { imageEmbeddings: embeddings, signal: already })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("samplePrior: unit-norm image embeddings, the best of the candidates, deterministic per seed", async () => {
    const before = tf.memory().numTensors;
    const text = tf.randomNormal([3, 32], 0, 1, "float32", 9) as tf.Tensor2D;
    const one = await samplePrior(prior, { textEmbeddings: text, numInferenceSteps: 3, candidates: 1, seed: 4 });
    const best = await samplePrior(prior, { textEmbeddings: text, numInferenceSteps: 3, candidates: 3, seed: 4 });
    const again = await samplePrior(prior, { textEmbeddings: text, numInferenceSteps: 3, candidates: 3, seed: 4 });
    expect(best.shape).toEqual([3, 32]);
    const normsTensor = tf.norm(best, 2, 1);
    const norms = await normsTensor.data();
    normsTensor.dispose();
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
    expect(Array.from(await again.data())).toEqual(Array.from(await best.data()));
    // the kept candidate's score is at least the first candidate's (candidate 0 of `best` is `one`'s draw)
    const score = async (z: tf.Tensor2D) => {
      const t = tf.tidy(() => tf.sum(tf.mul(z, tf.div(text, tf.norm(text, 2, 1, true))), 1));
      const values = await t.data();
      t.dispose();
      return values;
    };
    const [s1, s3] = [await score(one), await score(best)];
    for (let i = 0; i < 3; i++) expect(s3[i]!).toBeGreaterThanOrEqual(s1[i]! - 1e-6);
    await expect(samplePrior(prior, { textEmbeddings: text, candidates: 0 })).rejects.toThrow(/candidates must be a positive integer/);
    tf.dispose([text, one, best, again]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("slerp: endpoints, unit norm, and the 30/70 blend lies between", async () => {
    const a = tf.tensor1d([1, 0, 0]);
    const b = tf.tensor1d([0, 1, 0]);
    expect(Array.from(await slerp(a, b, 0).data()).map((x) => +x.toFixed(6))).toEqual([1, 0, 0]);
    expect(Array.from(await slerp(a, b, 1).data()).map((x) => +x.toFixed(6))).toEqual([0, 1, 0]);
    const mid = await slerp(a, b, 0.3).data();
    expect(mid[0]!).toBeCloseTo(Math.cos(0.3 * Math.PI / 2), 6);
    expect(mid[1]!).toBeCloseTo(Math.sin(0.3 * Math.PI / 2), 6);
    expect(Array.from(await slerp(a, a, 0.5).data()).map((x) => +x.toFixed(6))).toEqual([1, 0, 0]); // parallel
    tf.dispose([a, b]);
  });

  it("interpolate with an upsampler: frames of equal weight are equal wherever they sit (upsampler noise shared too)", async () => {
    const withUpsampler = createPipeline({ clip: fakeClip(32), decoder, upsampler }); // (fakeClip holds one tensor)
    const before = tf.memory().numTensors;
    const red = solid(220, 30, 30);
    const blue = solid(20, 40, 230);
    const options = { numInferenceSteps: 2, upsamplerSteps: 2, batchSize: 2 };
    const frames = await interpolate(withUpsampler, red, blue, { weights: [0.3, 0.3, 0.3], ...options });
    expect(frames.shape).toEqual([3, 32, 32, 3]);
    const all = Float32Array.from(await frames.data());
    const rows = [0, 1, 2].map((i) => all.subarray(i * 32 * 32 * 3, (i + 1) * 32 * 32 * 3));
    expect(maxDifference(rows[0]!, rows[1]!)).toBeLessThan(1e-5); // same batch
    expect(maxDifference(rows[0]!, rows[2]!)).toBeLessThan(1e-5); // next batch
    const other = await interpolate(withUpsampler, red, blue, { weights: [0.3], ...options, seed: 1 });
    expect(maxDifference(rows[0]!, Float32Array.from(await other.data()))).toBeGreaterThan(1e-3); // another seed: other noise
    tf.dispose([frames, other]);
    expect(tf.memory().numTensors).toBe(before);
    const wrongNoise = tf.zeros<tf.Rank.R4>([1, 32, 32, 3]);
    await expect(sample(decoder, { imageEmbeddings: embeddings, upsampler, upsamplerNoise: wrongNoise })).rejects.toThrow(/upsamplerNoise has shape \[1, 32, 32, 3\], expected \[2, 32, 32, 3\]/);
    wrongNoise.dispose();
  });

  it("variations, interpolate, animate, mix, textToImage: shapes, shared noise, no tensors left", async () => {
    const before = tf.memory().numTensors;
    const red = solid(220, 30, 30);
    const blue = solid(20, 40, 230);
    const steps = { numInferenceSteps: 2 };
    const vars = await variations(pipeline, red, { count: 3, ...steps });
    expect(vars.shape).toEqual([3, 16, 16, 3]);
    const rowOf = async (t: tf.Tensor, i: number) => {
      const row = tf.slice(t, [i], [1]);
      const values = Array.from(await row.data());
      row.dispose();
      return values;
    };
    const [v0, v1] = [await rowOf(vars, 0), await rowOf(vars, 1)];
    expect(v0).not.toEqual(v1); // fresh noise per variation

    const frames = await interpolate(pipeline, red, blue, { weights: [0, 0.3, 0.7, 1], ...steps, batchSize: 3 });
    expect(frames.shape).toEqual([4, 16, 16, 3]);
    // weight 0 is image A's own embedding decoded from the shared noise: equal to a 1-frame interpolation
    const first = await interpolate(pipeline, red, blue, { weights: [0], ...steps });
    expect(Array.from(await first.data())).toEqual(await rowOf(frames, 0));
    await expect(interpolate(pipeline, red, blue, { weights: [0.5, 1.2] })).rejects.toThrow(/weights must lie in \[0, 1\], got 1\.2/);

    const seen: number[] = [];
    const loop = await animate(pipeline, red, { frames: 4, ...steps, onImage: (i) => void seen.push(i) });
    expect(loop.shape).toEqual([4, 16, 16, 3]);
    expect(seen).toEqual([0, 1, 2, 3]);
    const tour = await animate(pipeline, [red, blue], { frames: 4, ...steps });
    expect(tour.shape).toEqual([4, 16, 16, 3]);
    const drift = await animate(pipeline, red, { frames: 2, mode: "drift", ...steps });
    expect(drift.shape).toEqual([2, 16, 16, 3]);

    const mixed = await mix(pipeline, [{ image: red, weight: 0.3 }, { text: "a blue square", weight: 0.7 }], { count: 2, ...steps, priorSteps: 2 });
    expect(mixed.shape).toEqual([2, 16, 16, 3]);
    const fromText = await textToImage(pipeline, "a red circle", { count: 2, ...steps, priorSteps: 2 });
    expect(fromText.shape).toEqual([2, 16, 16, 3]);
    tf.dispose([vars, frames, first, loop, tour, drift, mixed, fromText]);
    expect(tf.memory().numTensors).toBe(before);

    await expect(textToImage(pipeline, "  ")).rejects.toThrow(/the prompt is empty/);
    await expect(textToImage(createPipeline({ clip: fakeClip(32), decoder }), "a cat")).rejects.toThrow(/has no prior/);
    await expect(mix(pipeline, [])).rejects.toThrow(/no items given/);
    expect(() => createPipeline({ clip: fakeClip(64), decoder })).toThrow(/decoder expects CLIP embeddings of width 32, the CLIP makes 64/);
    expect(() => createPipeline({ clip: fakeClip(32), decoder, upsampler: new UNet({ ...TINY_UPSAMPLER, lowResSize: 8 }) })).toThrow(/upsampler takes 8×8 images/);
  });

  it("clipEmbedder over a real (tiny, random) CLIP: image embeddings, and text tokens that reach a prior taking them", async () => {
    const config = clipConfigFromJson({ embed_dim: 32, image_resolution: 16, vision_layers: 1, vision_width: 64, vision_patch_size: 8, context_length: 12, vocab_size: 49408, transformer_width: 64, transformer_heads: 1, transformer_layers: 1 });
    const clip = clipFromSafetensors(initClip(config, { seed: 1 }));
    const tokenPrior = new DiffusionPrior({ ...TINY_PRIOR, textTokenDim: 64, maxTextTokens: 12 }, { seed: 4 });
    const narrow = new DiffusionPrior({ ...TINY_PRIOR, textTokenDim: 64, maxTextTokens: 8 });
    expect(() => createPipeline({ clip, prior: narrow, decoder })).toThrow(/the prior takes up to 8 text tokens of width 64, the CLIP gives 12 of width 64/);
    expect(() => createPipeline({ clip: fakeClip(32), prior: narrow, decoder })).toThrow(/the prior takes text token features, but the CLIP provides none/);
    narrow.dispose();
    const before = tf.memory().numTensors;
    const withTokens = createPipeline({ clip, prior: tokenPrior, decoder });
    const images = await withTokens.clip.embedImages([solid(200, 10, 10)]);
    expect(images.shape).toEqual([1, 32]);
    const text = await withTokens.clip.embedTexts(["a red circle"]);
    expect(text.tokens?.shape).toEqual([1, 12, 64]);
    expect(Array.from(await text.mask!.data())).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]); // start, a, red, circle, end
    tf.dispose([images, text.embeddings, text.tokens!, text.mask!]);
    const out = await textToImage(withTokens, "a red circle", { numInferenceSteps: 2, priorSteps: 2 });
    expect(out.shape).toEqual([1, 16, 16, 3]);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tokenPrior.dispose();
    clip.dispose();
  });
});
