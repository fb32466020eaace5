import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { CheckpointError, parseSafetensors, serializeSafetensors, toFloat32 } from "@proj/clip";
import { afterAll, describe, expect, it } from "vitest";
import { dropConditioning } from "./conditioning.js";
import { ModuleCheckpointError } from "./module.js";
import { directionalDerivativeError, gradientsByKey, noised, relativeError, seededNormal, take } from "./testing/helpers.js";
import { UNet, UNET_FORMAT } from "./unet.js";
import { MEDIUM_DECODER, SMALL_DECODER, SMALL_UPSAMPLER, TINY_DECODER, TINY_UPSAMPLER, type UNetConfig } from "./unet-config.js";

afterAll(() => tf.disposeVariables());

/** An even smaller decoder for gradient checks: 8×8, 2 levels, with text tokens. */
const GRADIENT_CHECK: UNetConfig = {
  ...TINY_DECODER,
  imageSize: 8,
  modelChannels: 8,
  attentionResolutions: [4],
  headChannels: 8,
  groups: 2,
  clipEmbedDim: 6,
  clipTokens: 2,
  contextDim: 8,
  textTokenDim: 5,
};

const WITH_TEXT: UNetConfig = { ...TINY_DECODER, textTokenDim: 12 };

function decoderInputs(config: UNetConfig, batch: number, seed: number) {
  return {
    x: seededNormal([batch, config.imageSize, config.imageSize, config.inChannels], seed) as tf.Tensor4D,
    imageEmbeddings: seededNormal([batch, config.clipEmbedDim], seed + 1, 1 / Math.sqrt(config.clipEmbedDim)) as tf.Tensor2D,
    timesteps: Array.from({ length: batch }, (_, i) => 100 + 300 * i),
  };
}

describe("UNet", () => {
  it("has the preset parameter counts", async () => {
    await tf.setBackend("cpu");
    const counts = Object.fromEntries(
      Object.entries({ TINY_DECODER, SMALL_DECODER, MEDIUM_DECODER, TINY_UPSAMPLER, SMALL_UPSAMPLER }).map(([name, config]) => {
        const unet = new UNet(config);
        const count = unet.parameterCount();
        unet.dispose();
        return [name, count];
      }),
    );
    expect(counts).toEqual(EXPECTED_COUNTS);
  });

  it("predicts an output shaped like its input for the decoder, the text-conditioned decoder and the upsampler, leaking nothing", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    const decoder = new UNet(TINY_DECODER, { seed: 1 });
    const { x, imageEmbeddings, timesteps } = decoderInputs(TINY_DECODER, 2, 1);
    const tensors = tf.memory().numTensors;
    const y = decoder.forward(x, timesteps, { imageEmbeddings });
    expect(y.shape).toEqual([2, 16, 16, 3]);
    y.dispose();
    expect(tf.memory().numTensors).toBe(tensors);

    const text = new UNet(WITH_TEXT, { seed: 1 });
    const textTokens = seededNormal([2, 7, 12], 5) as tf.Tensor3D;
    const stepTensor = tf.tensor1d(timesteps);
    const yText = text.forward(x, stepTensor, { imageEmbeddings, textTokens, dropText: [false, true] });
    expect(yText.shape).toEqual([2, 16, 16, 3]);

    const upsampler = new UNet(TINY_UPSAMPLER, { seed: 1 });
    const xUp = seededNormal([2, 32, 32, 3], 6) as tf.Tensor4D;
    const lowRes = seededNormal([2, 16, 16, 3], 7) as tf.Tensor4D;
    const yUp = upsampler.forward(xUp, timesteps, { lowRes });
    expect(yUp.shape).toEqual([2, 32, 32, 3]);
    tf.dispose([x, imageEmbeddings, textTokens, stepTensor, yText, xUp, lowRes, yUp]);
    for (const m of [decoder, text, upsampler]) m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("is deterministic per seed; freshly initialised, it predicts zero (zero-initialised output conv)", { timeout: 30_000 }, async () => {
    await tf.setBackend("cpu");
    const { x, imageEmbeddings, timesteps } = decoderInputs(TINY_DECODER, 1, 2);
    const run = async (seed: number, zeroOutputs: boolean) => {
      const unet = new UNet(TINY_DECODER, { seed }).initialise(seed, { zeroOutputs });
      const out = await take(unet.forward(x, timesteps, { imageEmbeddings }));
      unet.dispose();
      return out;
    };
    expect(await run(3, false)).toEqual(await run(3, false));
    expect(relativeError(await run(4, false), await run(3, false))).toBeGreaterThan(0.1);
    expect((await run(3, true)).every((v) => v === 0)).toBe(true);
    tf.dispose([x, imageEmbeddings]);
  });

  it("saves and loads through safetensors with the config in __metadata__, reproducing outputs bit-exactly", async () => {
    await tf.setBackend("wasm");
    const unet = new UNet(WITH_TEXT).initialise(5, { zeroOutputs: false });
    const bytes = unet.toSafetensors();
    const file = parseSafetensors(bytes);
    expect(file.metadata.format).toBe(UNET_FORMAT);
    expect(JSON.parse(file.metadata.config!)).toEqual(JSON.parse(JSON.stringify(WITH_TEXT)));
    const loaded = UNet.fromSafetensors(bytes);
    expect(loaded.config).toEqual(unet.config);
    const { x, imageEmbeddings, timesteps } = decoderInputs(WITH_TEXT, 2, 3);
    const textTokens = seededNormal([2, 3, 12], 4) as tf.Tensor3D;
    const inputs = { imageEmbeddings, textTokens, dropImageEmbedding: [false, true] };
    expect(await take(loaded.forward(x, timesteps, inputs))).toEqual(await take(unet.forward(x, timesteps, inputs)));
    tf.dispose([x, imageEmbeddings, textTokens]);
    unet.dispose();
    loaded.dispose();
  });

  it("loads F16 checkpoints (the shipped format) with outputs close to the F32 model", async () => {
    await tf.setBackend("wasm");
    const unet = new UNet(TINY_DECODER).initialise(5, { zeroOutputs: false });
    const half = unet.toSafetensors({ dtype: "F16" });
    expect(half.byteLength).toBeLessThan(0.55 * unet.toSafetensors().byteLength);
    const loaded = UNet.fromSafetensors(half);
    const { x, imageEmbeddings, timesteps } = decoderInputs(TINY_DECODER, 2, 3);
    const error = relativeError(await take(loaded.forward(x, timesteps, { imageEmbeddings })), await take(unet.forward(x, timesteps, { imageEmbeddings })));
    expect(error).toBeLessThan(1e-2);
    tf.dispose([x, imageEmbeddings]);
    unet.dispose();
    loaded.dispose();
  });

  it("rejects a checkpoint of another shape with one error listing the bad keys, and leaks nothing", async () => {
    await tf.setBackend("cpu");
    const unet = new UNet(TINY_DECODER);
    const file = parseSafetensors(unet.toSafetensors());
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [key, t] of file.tensors) tensors[key] = { dtype: "F32", shape: t.shape, data: toFloat32(t) };
    delete tensors["middle_block.1.qkv.weight"];
    tensors["clip_emb.weight"] = { dtype: "F32", shape: [7, 32], data: new Float32Array(7 * 32) };
    tensors["middle_block.3.weight"] = { dtype: "F32", shape: [1], data: new Float32Array(1) };
    const before = tf.memory().numTensors;
    const bad = serializeSafetensors(tensors, file.metadata);
    expect(() => UNet.fromSafetensors(bad)).toThrow(CheckpointError);
    expect(() => UNet.fromSafetensors(bad)).toThrow(
      /missing keys \(1\): middle_block\.1\.qkv\.weight.*clip_emb\.weight: checkpoint \[7, 32\], model \[32, 32\].*unused keys \(1\): middle_block\.3\.weight/,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(() => UNet.fromSafetensors(serializeSafetensors(tensors, { format: "proj-unclip-prior" }))).toThrow(ModuleCheckpointError);
    expect(() => UNet.fromSafetensors(serializeSafetensors(tensors))).toThrow(/no __metadata__\.config/);
    unet.dispose();
  });

  it("keeps sampling defaults in __metadata__.sampling (round trip; none → {}), and rejects bad ones by name", async () => {
    await tf.setBackend("cpu");
    const unet = new UNet(TINY_DECODER);
    expect(UNet.fromSafetensors(unet.toSafetensors()).samplingDefaults).toEqual({});
    expect(parseSafetensors(unet.toSafetensors()).metadata.sampling).toBeUndefined();
    unet.samplingDefaults = { guidanceScale: 2 };
    const loaded = UNet.fromSafetensors(unet.toSafetensors({ dtype: "F16" }));
    expect(loaded.samplingDefaults).toEqual({ guidanceScale: 2 });
    const file = parseSafetensors(unet.toSafetensors());
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [key, t] of file.tensors) tensors[key] = { dtype: "F32", shape: t.shape, data: toFloat32(t) };
    const withSampling = (sampling: string) => serializeSafetensors(tensors, { ...file.metadata, sampling });
    const before = tf.memory().numTensors;
    expect(() => UNet.fromSafetensors(withSampling('{"guidanceScale": -1}'))).toThrow(/__metadata__\.sampling\.guidanceScale must be a finite number ≥ 0, got -1/);
    expect(() => UNet.fromSafetensors(withSampling('{"guidanceScale": "2"}'))).toThrow(/guidanceScale must be a finite number/);
    expect(() => UNet.fromSafetensors(withSampling("[2]"))).toThrow(/__metadata__\.sampling must be a JSON object/);
    expect(() => UNet.fromSafetensors(withSampling("{guidance"))).toThrow(/__metadata__\.sampling is not valid JSON/);
    expect(tf.memory().numTensors).toBe(before);
    unet.dispose();
    loaded.dispose();
  });

  it("gives clear errors for a wrong embedding width, image size, missing inputs and NaN", async () => {
    await tf.setBackend("cpu");
    const unet = new UNet(TINY_DECODER);
    const upsampler = new UNet(TINY_UPSAMPLER);
    const { x, imageEmbeddings, timesteps } = decoderInputs(TINY_DECODER, 2, 1);
    const wide = tf.zeros([2, 512]) as tf.Tensor2D;
    const big = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
    const nan = tf.tensor2d(Array.from({ length: 64 }, (_, i) => (i === 5 ? NaN : 0)), [2, 32]);
    const before = tf.memory().numTensors;
    expect(() => unet.forward(x, timesteps, { imageEmbeddings: wide })).toThrow(/imageEmbeddings must have shape \[2, 32\].*width 32.*got \[2, 512\]/);
    expect(() => unet.forward(big, timesteps, { imageEmbeddings })).toThrow(/x must have shape \[\*, 16, 16, 3\].*16×16 model.*got \[2, 32, 32, 3\]/);
    expect(() => unet.forward(x, timesteps, {})).toThrow(/imageEmbeddings \[B, 32\] are required/);
    expect(() => unet.forward(x, [1], { imageEmbeddings })).toThrow(/timesteps must have shape \[2\]/);
    expect(() => unet.forward(x, timesteps, { imageEmbeddings: nan as tf.Tensor2D })).toThrow(/imageEmbeddings contains NaN/);
    expect(() => unet.forward(x, [1, NaN], { imageEmbeddings })).toThrow(/timesteps contain a non-finite value/);
    expect(() => unet.forward(x, timesteps, { imageEmbeddings, dropImageEmbedding: [true] })).toThrow(/dropImageEmbedding has 1 entries but the batch has 2/);
    expect(() => upsampler.forward(big, timesteps, {})).toThrow(/needs lowRes \[B, 16, 16, 3\]/);
    expect(() => upsampler.forward(big, timesteps, { lowRes: big })).toThrow(/lowRes must have shape \[2, 16, 16, 3\]/);
    expect(() => new UNet({ ...TINY_DECODER, imageSize: 12, channelMult: [1, 2, 2, 2] })).toThrow(/imageSize 12 is not divisible by 2\^3/);
    expect(() => new UNet({ ...TINY_DECODER, attentionResolutions: [5] })).toThrow(/attentionResolutions entry 5/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, imageEmbeddings, wide, big, nan]);
    unet.dispose();
    upsampler.dispose();
  });

  it("replaces dropped rows by the learned null embedding in one batched pass (classifier-free guidance)", async () => {
    await tf.setBackend("cpu");
    const unet = new UNet(TINY_DECODER).initialise(6, { zeroOutputs: false });
    const { x, imageEmbeddings, timesteps } = decoderInputs(TINY_DECODER, 2, 8);
    const batched = await take(unet.forward(x, timesteps, { imageEmbeddings, dropImageEmbedding: [false, true] }));
    const nullRows = tf.stack([tf.gather(imageEmbeddings, 0), unet.null_image_embedding!]) as tf.Tensor2D;
    const explicit = await take(unet.forward(x, timesteps, { imageEmbeddings: nullRows }));
    expect(relativeError(batched, explicit)).toBeLessThan(1e-6);
    const conditional = await take(unet.forward(x, timesteps, { imageEmbeddings }));
    expect(relativeError(batched.subarray(0, 768), conditional.subarray(0, 768))).toBeLessThan(1e-6);
    expect(relativeError(batched.subarray(768), conditional.subarray(768))).toBeGreaterThan(1e-3);
    tf.dispose([x, imageEmbeddings, nullRows]);
    unet.dispose();
  });

  it("ignores padded and dropped text tokens", async () => {
    await tf.setBackend("cpu");
    const unet = new UNet(WITH_TEXT).initialise(6, { zeroOutputs: false });
    const { x, imageEmbeddings, timesteps } = decoderInputs(WITH_TEXT, 2, 9);
    const textTokens = seededNormal([2, 4, 12], 10) as tf.Tensor3D;
    const otherTokens = seededNormal([2, 4, 12], 11) as tf.Tensor3D;
    const mask = tf.tensor2d([1, 1, 0, 0, 1, 1, 1, 1], [2, 4]);
    const padded = tf.concat([tf.slice(textTokens, [0, 0, 0], [2, 2, 12]), tf.slice(otherTokens, [0, 2, 0], [2, 2, 12])], 1) as tf.Tensor3D;
    const a = await take(unet.forward(x, timesteps, { imageEmbeddings, textTokens, textMask: mask }));
    const b = await take(unet.forward(x, timesteps, { imageEmbeddings, textTokens: padded, textMask: mask }));
    expect(relativeError(b.subarray(0, 768), a.subarray(0, 768))).toBeLessThan(1e-6); // row 0: only padding changed
    expect(relativeError(b.subarray(768), a.subarray(768))).toBeGreaterThan(1e-4); // row 1: real tokens changed
    const dropped = await take(unet.forward(x, timesteps, { imageEmbeddings, textTokens, dropText: [true, true] }));
    const none = await take(unet.forward(x, timesteps, { imageEmbeddings }));
    expect(relativeError(dropped, none)).toBeLessThan(1e-6);
    tf.dispose([x, imageEmbeddings, textTokens, otherTokens, mask, padded]);
    unet.dispose();
  });

  it("has gradients that match central finite differences (cpu)", { timeout: 30_000 }, async () => {
    await tf.setBackend("cpu");
    const unet = new UNet(GRADIENT_CHECK).initialise(11, { zeroOutputs: false });
    const { x, imageEmbeddings, timesteps } = decoderInputs(GRADIENT_CHECK, 2, 12);
    const textTokens = seededNormal([2, 3, 5], 13) as tf.Tensor3D;
    const r = seededNormal([2, 8, 8, 3], 14);
    const loss = () => tf.sum(tf.mul(unet.forward(x, timesteps, { imageEmbeddings, textTokens, dropImageEmbedding: [false, true], textMask: tf.tensor2d([1, 1, 0, 1, 1, 1], [2, 3]) }), r)) as tf.Scalar;
    const before = tf.memory().numTensors;
    const error = directionalDerivativeError(unet, loss, { epsilon: 3e-3, directions: 3, seed: 15 });
    expect(tf.memory().numTensors).toBe(before);
    expect(error).toBeLessThan(1e-2);
    tf.dispose([x, imageEmbeddings, textTokens, r]);
    unet.dispose();
  });

  it("has the same gradients on wasm as on cpu", { timeout: 30_000 }, async () => {
    const gradients = async (backend: string) => {
      await tf.setBackend(backend);
      const unet = new UNet(GRADIENT_CHECK).initialise(11, { zeroOutputs: false });
      const { x, imageEmbeddings, timesteps } = decoderInputs(GRADIENT_CHECK, 2, 12);
      const textTokens = seededNormal([2, 3, 5], 13) as tf.Tensor3D;
      const r = seededNormal([2, 8, 8, 3], 14);
      const { grads } = gradientsByKey(unet, () => tf.sum(tf.mul(unet.forward(x, timesteps, { imageEmbeddings, textTokens, dropText: [true, false] }), r)) as tf.Scalar);
      tf.dispose([x, imageEmbeddings, textTokens, r]);
      unet.dispose();
      return grads;
    };
    const cpu = await gradients("cpu");
    const wasm = await gradients("wasm");
    let worst = 0;
    for (const [key, g] of cpu) if (g.some((v) => v !== 0)) worst = Math.max(worst, relativeError(wasm.get(key)!, g));
    expect(worst).toBeLessThan(1e-3);
  });

  it("learns: 30 Adam steps on a fixed batch cut the denoising loss by more than half (wasm), without leaking", { timeout: 60_000 }, async () => {
    await tf.setBackend("wasm");
    const unet = new UNet(TINY_DECODER, { seed: 1 });
    const batch = 4;
    const x0 = tf.tidy(() => tf.tanh(tf.mul(seededNormal([batch, 16, 16, 3], 20), 2))) as tf.Tensor4D; // images in (−1, 1)
    const noise = seededNormal([batch, 16, 16, 3], 21);
    const timesteps = [50, 250, 450, 650];
    const xt = noised(x0, noise, timesteps) as tf.Tensor4D;
    const imageEmbeddings = seededNormal([batch, 32], 22, 0.2) as tf.Tensor2D;
    const drop = dropConditioning(imageEmbeddings, 0.1, 3);
    const optimizer = tf.train.adam(5e-3);
    const loss = () => tf.losses.meanSquaredError(noise, unet.forward(xt, timesteps, { imageEmbeddings, dropImageEmbedding: drop })) as tf.Scalar;
    const first = await take(loss());
    const before = tf.memory().numTensors;
    let last = first[0]!;
    for (let step = 0; step < 30; step++) {
      const value = optimizer.minimize(loss, true, [...unet.namedParameters().values()])!;
      last = (await take(value))[0]!;
    }
    // Adam's moment variables are created on the first step; after that nothing may accumulate.
    const afterFirstSteps = tf.memory().numTensors;
    optimizer.minimize(loss, false, [...unet.namedParameters().values()]);
    expect(tf.memory().numTensors).toBe(afterFirstSteps);
    expect(afterFirstSteps - before).toBe(2 * unet.namedParameters().size);
    expect(last).toBeLessThan(0.5 * first[0]!);
    optimizer.dispose();
    tf.dispose([x0, noise, xt, imageEmbeddings]);
    unet.dispose();
  });
});

const EXPECTED_COUNTS = {
  TINY_DECODER: 54067,
  SMALL_DECODER: 1423171,
  MEDIUM_DECODER: 5079939,
  TINY_UPSAMPLER: 45547,
  SMALL_UPSAMPLER: 667635,
};
