/**
 * linear on wasm (our SIMD GEMM, ../wasm-simd/gemm.wat) against the float64 loop reference, at sizes that hit every
 * edge of the 4 × 8 register tile (M mod 4, N mod 8, K = 1) and at CLIP ViT-B/32's own shapes; and the heap:
 * no tensor or heap buffer is left behind (the packing scratch is freed).
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import "../../register.js";
import { linear } from "../../ops/linear.js";
import { initBackends, randomTensor, relativeError, useBackend } from "../../testing/backends.js";
import { linearF64 } from "../../testing/reference-linear.js";
import { packedColumnsSize, packedRowsSize } from "./linear.js";

await initBackends(["cpu", "wasm"]);

/** [M, K, N]: M = 1…9 around the 4-row tile, N around the 8-column panel, K = 1; then CLIP's layers. */
const sizes: [number, number, number][] = [
  [1, 1, 1],
  [1, 5, 7],
  [2, 3, 8],
  [3, 16, 9],
  [4, 8, 15],
  [5, 33, 16],
  [7, 2, 17],
  [8, 64, 24],
  [9, 100, 33],
  [50, 64, 50], // one attention head's Q Kᵀ
  [77, 512, 1536], // CLIP text q|k|v, batch 1
  [41, 768, 3072], // ViT-B/32 c_fc (N = 3072; 41 of its 400 rows at batch 8)
  [50, 3072, 768], // ViT-B/32 c_proj, batch 1
];

const numDataIds = (): number => tf.engine().backend.numDataIds();

describe("linear on wasm (SIMD GEMM)", () => {
  beforeAll(() => useBackend("wasm"));

  it("sizes its packing buffers by whole tiles and panels", () => {
    expect(packedRowsSize(1, 3)).toBe(12);
    expect(packedRowsSize(8, 3)).toBe(24);
    expect(packedColumnsSize(3, 1)).toBe(24);
    expect(packedColumnsSize(3, 17)).toBe(72);
  });

  describe.each([
    ["no bias, no activation", false, undefined],
    ["bias", true, undefined],
    ["bias, quickGelu", true, "quickGelu"],
    ["gelu, no bias", false, "gelu"],
  ] as const)("%s", (_name, withBias, activation) => {
    it.each(sizes)("matches the float64 reference at [%i, %i] × [.., %i] within 1e-5 relative", async (m, k, n) => {
      const x = randomTensor([m, k], 3 * m + k, 1);
      const weight = randomTensor([k, n], 5 * n + k, 1 / Math.sqrt(k));
      const bias = withBias ? randomTensor([n], n, 0.5) : undefined;
      const tensors = tf.memory().numTensors;
      const buffers = numDataIds();
      const y = linear(x, weight, bias, { activation });
      expect(y.shape).toEqual([m, n]);
      const expected = linearF64(await x.data(), await weight.data(), bias ? await bias.data() : null, k, n, activation ?? "none");
      // Measured: ≤ 6e-7 (float32 accumulation over K = 3072).
      expect(await relativeError(y, expected)).toBeLessThanOrEqual(1e-5);
      y.dispose();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(numDataIds()).toBe(buffers);
      tf.dispose([x, weight, ...(bias ? [bias] : [])]);
    });
  });

  it("reads a batched x [B, T, K] as B·T rows and gives [B, T, N]", async () => {
    const x = randomTensor([3, 5, 12], 1);
    const weight = randomTensor([12, 10], 2, 0.3);
    const bias = randomTensor([10], 3);
    const y = linear(x, weight, bias);
    expect(y.shape).toEqual([3, 5, 10]);
    const expected = linearF64(await x.data(), await weight.data(), await bias.data(), 12, 10, "none");
    expect(await relativeError(y, expected)).toBeLessThanOrEqual(1e-6);
    tf.dispose([x, weight, bias, y]);
  });
});
