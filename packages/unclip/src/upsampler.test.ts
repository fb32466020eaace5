import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { afterAll, describe, expect, it } from "vitest";
import { augmentLowRes, downsampleImages, gaussianKernel1d, randomCrops } from "./upsampler.js";
import { noised, relativeError, seededNormal, take } from "./testing/helpers.js";
import { UNet, upsampleNearest2x } from "./unet.js";
import { TINY_UPSAMPLER } from "./unet-config.js";

afterAll(() => tf.disposeVariables());

describe("upsampler helpers", () => {
  it("downsamples by block means", async () => {
    await tf.setBackend("cpu");
    const images = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [1, 4, 4, 1]);
    expect(Array.from(await take(downsampleImages(images)))).toEqual([3.5, 5.5, 11.5, 13.5]);
    expect(() => downsampleImages(images, 3)).toThrow(/factor 3/);
    images.dispose();
  });

  it("repeats each pixel 2×2 in upsampleNearest2x", async () => {
    await tf.setBackend("cpu");
    const x = tf.tensor4d([1, 10, 2, 20, 3, 30, 4, 40], [1, 2, 2, 2]);
    const y = upsampleNearest2x(x);
    expect(y.shape).toEqual([1, 4, 4, 2]);
    expect((await y.array())[0]!.map((row) => row.map((p) => p[0]))).toEqual([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]);
    tf.dispose([x, y]);
  });

  it("blurs with normalised Gaussian taps (a flat image stays flat), adds seeded noise, and is deterministic per seed", async () => {
    await tf.setBackend("wasm");
    const taps = gaussianKernel1d(0.5);
    expect(taps.length).toBe(5);
    expect(taps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    const flat = tf.fill([2, 8, 8, 3], 0.25) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const blurredFlat = await take(augmentLowRes(flat, { seed: 1 }));
    expect(blurredFlat.every((v) => Math.abs(v - 0.25) < 1e-6)).toBe(true); // reflect padding: no dark border
    const images = seededNormal([2, 8, 8, 3], 2) as tf.Tensor4D;
    const a = await take(augmentLowRes(images, { seed: 3, noiseStd: 0.1 }));
    const b = await take(augmentLowRes(images, { seed: 3, noiseStd: 0.1 }));
    const c = await take(augmentLowRes(images, { seed: 4, noiseStd: 0.1 }));
    expect(a).toEqual(b);
    expect(relativeError(c, a)).toBeGreaterThan(1e-3);
    // Blurring lowers the energy of white noise.
    const blurred = await take(augmentLowRes(images, { seed: 3, blurSigma: [1, 1] }));
    const energy = (v: Float32Array) => v.reduce((s, x) => s + x * x, 0);
    expect(energy(blurred)).toBeLessThan(0.5 * energy(images.dataSync() as Float32Array));
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(() => augmentLowRes(images, { seed: 1, blurSigma: [0, 1] })).toThrow(/blurSigma/);
    tf.dispose([flat, images]);
  });

  it("takes aligned random crops, deterministic per seed", async () => {
    await tf.setBackend("cpu");
    const images = tf.tidy(() => tf.reshape(tf.range(0, 2 * 8 * 8), [2, 8, 8, 1])) as tf.Tensor4D;
    const a = randomCrops(images, 4, 1);
    const b = randomCrops(images, 4, 1);
    expect(a.shape).toEqual([2, 4, 4, 1]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const first = a.dataSync();
    for (const [i, value] of [first[0]!, first[16]! - 64].entries()) {
      const row = Math.floor(value / 8);
      const col = value % 8;
      expect([row % 2, col % 2], `crop ${i} offset`).toEqual([0, 0]);
    }
    expect(() => randomCrops(images, 3, 1)).toThrow(/multiple of 2/);
    tf.dispose([images, a, b]);
  });

  it("lets an upsampler denoise crops (with the matching low-resolution crop) but not other sizes", async () => {
    await tf.setBackend("cpu");
    const upsampler = new UNet(TINY_UPSAMPLER, { seed: 1 });
    const x = seededNormal([2, 16, 16, 3], 1) as tf.Tensor4D;
    const lowRes = seededNormal([2, 8, 8, 3], 2) as tf.Tensor4D;
    const y = upsampler.forward(x, [1, 2], { lowRes });
    expect(y.shape).toEqual([2, 16, 16, 3]);
    expect(() => upsampler.forward(x, [1, 2], { lowRes: x })).toThrow(/lowRes must have shape \[2, 8, 8, 3\]/);
    const odd = tf.zeros([1, 7, 7, 3]) as tf.Tensor4D;
    const oddLow = tf.zeros([1, 3, 3, 3]) as tf.Tensor4D;
    expect(() => upsampler.forward(odd, [1], { lowRes: oddLow })).toThrow(/square crop whose side is a multiple of 2/);
    tf.dispose([x, lowRes, y, odd, oddLow]);
    upsampler.dispose();
  });

  it("trains the tiny upsampler on (augmented) low-resolution inputs: 20 Adam steps lower the loss markedly", { timeout: 60_000 }, async () => {
    await tf.setBackend("wasm");
    const upsampler = new UNet(TINY_UPSAMPLER, { seed: 2 });
    const batch = 2;
    const x0 = tf.tidy(() => tf.tanh(tf.mul(seededNormal([batch, 32, 32, 3], 40), 2))) as tf.Tensor4D;
    const lowRes = tf.tidy(() => augmentLowRes(downsampleImages(x0), { seed: 5 }));
    const noise = seededNormal([batch, 32, 32, 3], 41);
    const timesteps = [200, 600];
    const xt = noised(x0, noise, timesteps) as tf.Tensor4D;
    const optimizer = tf.train.adam(5e-3);
    const loss = () => tf.losses.meanSquaredError(noise, upsampler.forward(xt, timesteps, { lowRes })) as tf.Scalar;
    const first = (await take(loss()))[0]!;
    let last = first;
    for (let step = 0; step < 20; step++) last = (await take(optimizer.minimize(loss, true, [...upsampler.namedParameters().values()])!))[0]!;
    expect(last).toBeLessThan(0.6 * first);
    optimizer.dispose();
    tf.dispose([x0, lowRes, noise, xt]);
    upsampler.dispose();
  });
});
