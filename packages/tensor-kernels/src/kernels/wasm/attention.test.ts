/**
 * The "simd" strategy of attention on wasm (our SIMD GEMM per head, one wasm Softmax over all heads), pinned,
 * against the float64 loop reference at CLIP's shapes and at sizes around the GEMM's 4 × 8 tile; and the heap:
 * no tensor or heap buffer is left behind. The conformance suite (src/ops/attention.test.ts) runs it as "auto" too.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../../register.js";
import { Attention, attention, MaskedAttention } from "../../ops/attention.js";
import { initBackends, randomTensor, relativeError, useBackend } from "../../testing/backends.js";
import { attentionF64 } from "../../testing/reference-attention.js";
import { attentionWasmConfig, attentionWasmKernel, chooseStrategy, maskedAttentionWasmConfig } from "./attention.js";

await initBackends(["cpu", "wasm"]);

const numDataIds = (): number => tf.engine().backend.numDataIds();

/** [B, H, Tq, D], Tk, causal. */
const cases: [[number, number, number, number], number, boolean][] = [
  [[8, 12, 50, 64], 50, false], // ViT-B/32 vision, batch 8
  [[2, 8, 77, 64], 77, true], // CLIP text, causal
  [[1, 3, 1, 64], 50, false], // attention pool, Tq = 1
  [[2, 2, 5, 3], 9, false], // D and Tk not multiples of 4 or 8
  [[1, 2, 9, 7], 4, true], // Tq > Tk, causal
  [[1, 1, 33, 16], 17, false],
];

describe("attention on wasm, simd strategy", () => {
  beforeAll(async () => {
    await useBackend("wasm");
    for (const name of [Attention, MaskedAttention]) {
      tf.unregisterKernel(name, "wasm");
      tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: attentionWasmKernel("simd") });
    }
  });
  afterAll(() => {
    for (const config of [attentionWasmConfig, maskedAttentionWasmConfig]) {
      tf.unregisterKernel(config.kernelName, "wasm");
      tf.registerKernel(config);
    }
  });

  it("is the strategy chosen for every size", () => {
    for (const [[batch, heads, queries, headSize], keys] of cases) expect(chooseStrategy({ batch, heads, queries, keys, headSize })).toBe("simd");
  });

  it.each(cases)("matches the float64 reference at q [%s], Tk %i, causal %s within 1e-5 relative", async (shape, keys, causal) => {
    const [batch, heads, , headSize] = shape;
    const q = randomTensor(shape, 1, 2);
    const k = randomTensor([batch, heads, keys, headSize], 2, 2);
    const v = randomTensor([batch, heads, keys, headSize], 3, 1, 0.5);
    const tensors = tf.memory().numTensors;
    const buffers = numDataIds();
    const y = attention(q, k, v, { causal });
    const expected = attentionF64(await q.data(), await k.data(), await v.data(), shape, keys, { scale: 1 / Math.sqrt(headSize), causal });
    // Measured: ≤ 5e-7.
    expect(await relativeError(y, expected)).toBeLessThanOrEqual(1e-5);
    y.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(numDataIds()).toBe(buffers);
    tf.dispose([q, k, v]);
  });

  it("applies a mask with −∞ rows (zero output rows) and a custom scale", async () => {
    const shape: [number, number, number, number] = [2, 3, 6, 8];
    const keys = 11;
    const q = randomTensor(shape, 4, 2);
    const k = randomTensor([2, 3, keys, 8], 5, 2);
    const v = randomTensor([2, 3, keys, 8], 6, 1, 0.5);
    const maskValues = (await randomTensor([6, keys], 7, 2).data()) as Float32Array;
    maskValues.fill(-Infinity, 2 * keys, 3 * keys); // query 2 sees no key
    const mask = tf.tensor(maskValues, [6, keys]);
    const tensors = tf.memory().numTensors;
    const buffers = numDataIds();
    const y = attention(q, k, v, { mask, scale: 0.3 });
    const expected = attentionF64(await q.data(), await k.data(), await v.data(), shape, keys, { scale: 0.3, mask: { values: maskValues, shape: [6, keys] } });
    expect(await relativeError(y, expected)).toBeLessThanOrEqual(1e-5);
    const out = await y.data();
    expect(out.subarray(2 * 8, 3 * 8).every((x) => x === 0)).toBe(true);
    y.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(numDataIds()).toBe(buffers);
    tf.dispose([q, k, v, mask]);
  });
});
