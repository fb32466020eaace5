/**
 * Weights packed once (packed-weights.ts) on the `native` backend: the second product with the same weight packs it,
 * later ones reuse it, with results bit-identical to packing per call; the packing is freed when the weight's memory
 * is, forgotten when AdamW rewrites the weight in place, ignored after an ISA change, and capped by the budget.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackends, randomTensor, relativeErrorOf } from "../testing/backends.js";
import { linear } from "../ops/linear.js";
import { AdamW } from "../training/adamw.js";
import { nativeAvailable, nativeIsa, nativeUnavailableReason, setNativeIsa } from "./index.js";
import { nativePackedBFloats } from "./addon.js";
import { packedWeightStats } from "./packed-weights.js";

const backends = await initBackends();
const skipReason = nativeAvailable ? "" : ` (skipped: ${nativeUnavailableReason()})`;

describe.skipIf(!backends.includes("native"))(`packed weights on native${skipReason}`, () => {
  beforeAll(() => tf.setBackend("native"));
  afterAll(() => tf.setBackend("cpu"));

  /** linear(x, w, b) read back. */
  const run = async (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
    const y = linear(x, w, b, { activation: "gelu" });
    const data = await y.data();
    y.dispose();
    return Array.from(data);
  };

  it("packs a weight on its second use and reuses it, bit-identical to packing per call; freed with the weight", async () => {
    const before = { tensors: tf.memory().numTensors, floats: nativePackedBFloats(), stats: packedWeightStats() };
    const x = randomTensor([1, 50, 300], 1);
    const w = randomTensor([300, 260], 2);
    const b = randomTensor([260], 3);
    const first = await run(x, w, b); // seen
    expect(packedWeightStats().packed).toBe(before.stats.packed);
    const second = await run(x, w, b); // packed now
    expect(packedWeightStats().packed).toBe(before.stats.packed + 1);
    expect(nativePackedBFloats()).toBeGreaterThanOrEqual(before.floats + 300 * 260);
    const third = await run(x, w, b); // reused
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    // The GEMM really reads the packing: a write into w's memory behind tfjs' back is not seen.
    const heap = (tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array }).typedArrayFromHeap(w);
    const saved = heap.slice();
    heap.fill(0);
    expect(await run(x, w, b)).toEqual(first);
    heap.set(saved);
    // (moving w to cpu and back frees its native memory, and with it the packing)
    await tf.setBackend("cpu");
    const want = await run(x, w, b);
    await tf.setBackend("native");
    expect(relativeErrorOf(Float32Array.from(third), Float32Array.from(want))).toBeLessThanOrEqual(1e-5);
    w.dispose();
    expect(packedWeightStats()).toEqual(before.stats);
    expect(nativePackedBFloats()).toBe(before.floats);
    tf.dispose([x, b]);
    expect(tf.memory().numTensors).toBe(before.tensors);
  });

  it("a weight over several K slices and N blocks (1100 × 2100) packed in the order the GEMM walks it", async () => {
    const x = randomTensor([1, 20, 1100], 30);
    const w = randomTensor([1100, 2100], 31, 0.03);
    const b = randomTensor([2100], 32);
    const first = await run(x, w, b);
    const stats = packedWeightStats().packed;
    const second = await run(x, w, b); // from the packing
    expect(packedWeightStats().packed).toBe(stats + 1);
    expect(second).toEqual(first);
    await tf.setBackend("cpu");
    const want = await run(x, w, b);
    await tf.setBackend("native");
    expect(relativeErrorOf(Float32Array.from(second), Float32Array.from(want))).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, w, b]);
  });

  it("tf.matMul with B transposed and broadcast over a batch reuses the packing correctly", async () => {
    const a = randomTensor([3, 20, 256], 4);
    const bT = randomTensor([300, 256], 5); // op(B) = bTᵀ [256, 300]
    const products = [];
    for (let i = 0; i < 3; i++) products.push(Array.from(await tf.tidy(() => tf.matMul(a, bT, false, true)).data()));
    expect(products[1]).toEqual(products[0]);
    expect(products[2]).toEqual(products[0]);
    await tf.setBackend("cpu");
    const want = await tf.tidy(() => tf.matMul(a, bT, false, true)).data();
    await tf.setBackend("native");
    expect(relativeErrorOf(Float32Array.from(products[2]!), want)).toBeLessThanOrEqual(1e-5);
    tf.dispose([a, bT]);
  });

  it("packs nothing for a weight used once plain and once transposed (a training step's forward and backward)", async () => {
    const before = packedWeightStats();
    const [x, w, dy] = [randomTensor([16, 300], 13), randomTensor([300, 256], 14), randomTensor([16, 256], 15)];
    tf.dispose([tf.matMul(x, w), tf.matMul(dy, w, false, true)]);
    expect(packedWeightStats().packed).toBe(before.packed);
    tf.dispose([x, w, dy]);
    expect(packedWeightStats()).toEqual(before);
  });

  it("forgets the packing when AdamW rewrites the weight in place", async () => {
    const x = randomTensor([8, 300], 6);
    const w = tf.tidy(() => tf.variable(randomTensor([300, 256], 7), true, "packed-w"));
    const b = randomTensor([256], 8);
    const optimizer = new AdamW(new Map([["w.weight", w]]), { weightDecay: 0 });
    for (let step = 0; step < 3; step++) {
      await run(x, w, b);
      await run(x, w, b); // packs w (or reuses it)
      const id = w.dataId;
      const grad = randomTensor([300, 256], 20 + step, 0.5);
      optimizer.step({ "w.weight": grad }, 0.05);
      grad.dispose();
      if (w.dataId !== id) continue; // the plain step (first step: moments made) assigns a new tensor
      const got = await run(x, w, b);
      const fresh = tf.tidy(() => tf.tensor(w.dataSync(), w.shape)); // the updated values under a new data id
      const want = await run(x, fresh, b);
      fresh.dispose();
      expect(got).toEqual(want);
    }
    optimizer.dispose();
    tf.dispose([x, w, b]);
  });

  it("ignores a packing made for another ISA, and packs nothing beyond the budget", async () => {
    const x = randomTensor([2, 300], 9);
    const w = randomTensor([300, 256], 10);
    const b = randomTensor([256], 11);
    const best = nativeIsa().current;
    const reference = await run(x, w, b);
    await run(x, w, b); // packed for `best`
    const other = nativeIsa().best === "scalar" ? "scalar" : "avx2";
    if (other !== best) {
      expect(setNativeIsa(other)).toBe(true);
      const onOther = await run(x, w, b);
      expect(setNativeIsa(best)).toBe(true);
      expect(relativeErrorOf(Float32Array.from(onOther), Float32Array.from(reference))).toBeLessThanOrEqual(1e-5);
    }
    w.dispose();
    const budget = process.env.PROJ_NATIVE_PACKED_MB;
    process.env.PROJ_NATIVE_PACKED_MB = "0";
    const before = packedWeightStats().packed;
    const w2 = randomTensor([300, 256], 12);
    for (let i = 0; i < 3; i++) await run(x, w2, b);
    expect(packedWeightStats().packed).toBe(before);
    if (budget === undefined) delete process.env.PROJ_NATIVE_PACKED_MB;
    else process.env.PROJ_NATIVE_PACKED_MB = budget;
    tf.dispose([x, w2, b]);
  });
});
