import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { afterAll, describe, expect, it } from "vitest";
import { relativeError, seededNormal } from "./testing/helpers.js";
import { UNet } from "./unet.js";
import { SMALL_DECODER, TINY_DECODER, TINY_UPSAMPLER, type UNetConfig } from "./unet-config.js";
import { widenedConfig, widenUNet } from "./widen.js";

afterAll(() => tf.disposeVariables());

/** A model with every weight non-zero (the zero-initialised output layers too), so its output depends on all of them. */
function trainedLike(config: UNetConfig, seed: number): UNet {
  return new UNet(config).initialise(seed, { zeroOutputs: false });
}

function inputs(config: UNetConfig, batch: number, seed: number) {
  const x = seededNormal([batch, config.imageSize, config.imageSize, config.inChannels], seed) as tf.Tensor4D;
  const timesteps = Array.from({ length: batch }, (_, i) => 37 + 400 * i);
  const extra: Parameters<UNet["forward"]>[2] = {};
  if (config.clipEmbedDim > 0) extra.imageEmbeddings = seededNormal([batch, config.clipEmbedDim], seed + 1, 1 / Math.sqrt(config.clipEmbedDim)) as tf.Tensor2D;
  if (config.clipEmbedDim > 0) extra.dropImageEmbedding = Array.from({ length: batch }, (_, i) => i === 0);
  if (config.textTokenDim > 0) extra.textTokens = seededNormal([batch, 5, config.textTokenDim], seed + 2) as tf.Tensor3D;
  if (config.lowResChannels > 0) extra.lowRes = seededNormal([batch, config.lowResSize, config.lowResSize, config.lowResChannels], seed + 3) as tf.Tensor4D;
  return { x, timesteps, extra };
}

async function expectSameFunction(config: UNetConfig, seed: number): Promise<void> {
  const small = trainedLike(config, seed);
  const { x, timesteps, extra } = inputs(config, 3, seed + 10);
  const before = tf.memory().numTensors;
  const wide = widenUNet(small, { seed: 7 });
  // The only new tensors are the widened model's variables.
  expect(tf.memory().numTensors - before).toBe(wide.namedParameters().size);
  expect(wide.config).toEqual(widenedConfig(config));
  expect(wide.parameterCount()).toBeGreaterThan(3 * small.parameterCount());
  const a = small.forward(x, timesteps, extra);
  const b = wide.forward(x, timesteps, extra);
  const reference = await a.data();
  expect(Math.max(...reference.map(Math.abs))).toBeGreaterThan(0.1); // a non-trivial output
  // Float32 sums in a different order and grouping: relative 1e-4 of the output's scale.
  expect(relativeError(await b.data(), reference)).toBeLessThan(1e-4);
  tf.dispose([a, b, x, ...Object.values(extra).filter((v): v is tf.Tensor => v instanceof tf.Tensor)]);
  small.dispose();
  wide.dispose();
}

describe("widenUNet (function-preserving 2× widening)", () => {
  it("keeps a decoder's output (CLIP embedding, context tokens, attention, dropped rows)", async () => {
    await tf.setBackend("cpu");
    await expectSameFunction(TINY_DECODER, 1);
  });

  it("keeps the output with text tokens, two residual blocks per level and attention at two levels", async () => {
    await tf.setBackend("cpu");
    await expectSameFunction({ ...TINY_DECODER, textTokenDim: 12, numResBlocks: 2, attentionResolutions: [16, 8] }, 2);
  });

  it("keeps an upsampler's output (low-resolution input, no CLIP)", async () => {
    await tf.setBackend("cpu");
    await expectSameFunction(TINY_UPSAMPLER, 3);
  });

  it("keeps the output of the embedded decoder's preset on wasm", async () => {
    await tf.setBackend("wasm");
    await expectSameFunction(SMALL_DECODER, 4);
  });

  it("splits each read weight into two halves that differ by ±ε and sum to the original", async () => {
    await tf.setBackend("cpu");
    const small = trainedLike(TINY_DECODER, 5);
    const exact = widenUNet(small, { noise: 0 });
    const noisy = widenUNet(small, { noise: 0.05, seed: 1 });
    const key = "output_blocks.0.0.out_layers.3.weight"; // a conv reading a widened activation
    const old = small.namedParameters().get(key);
    const [w0, w1] = [exact, noisy].map((m) => m.namedParameters().get(key)!.dataSync() as Float32Array);
    expect(old, `expected the key ${key} to exist`).toBeDefined();
    const o = old!.dataSync();
    // Kernel tap (0, 0) of [kh, kw, 2·Cin, 2·Cout]: input channel i, output channel j.
    const newCout = 2 * old!.shape[3]!;
    const at = (i: number, j: number) => i * newCout + j;
    // Exact: both copies of input 0 hold half of the old weight; output copies 0 and 1 equal.
    expect(w0![at(0, 0)]).toBeCloseTo(o[0]! / 2, 6);
    expect(w0![at(1, 0)]).toBeCloseTo(o[0]! / 2, 6);
    expect(w0![at(0, 1)]).toBeCloseTo(o[0]! / 2, 6);
    // Noisy: the halves differ, their sum is the old weight.
    expect(Math.abs(w1![at(0, 0)]! - w1![at(1, 0)]!)).toBeGreaterThan(0);
    expect(w1![at(0, 0)]! + w1![at(1, 0)]!).toBeCloseTo(o[0]!, 6);
    for (const m of [small, exact, noisy]) m.dispose();
  });

  it("rejects a bad seed or noise", () => {
    const small = new UNet(TINY_DECODER);
    expect(() => widenUNet(small, { seed: 0.5 })).toThrow(/seed must be an integer/);
    expect(() => widenUNet(small, { noise: Number.NaN })).toThrow(/noise must be a finite number/);
    small.dispose();
  });
});
