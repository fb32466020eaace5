/**
 * qkvAttention on every backend (the native backend runs its fused kernel, the others the composition) against the
 * double-precision attention of testing/reference-attention.ts applied per head, and its gradient against the cpu
 * backend's gradient of the plain composition (split, transposes, attention).
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import "../register.js";
import { initBackends, randomTensor, relativeError, relativeErrorOf, useBackend } from "../testing/backends.js";
import { attentionF64 } from "../testing/reference-attention.js";
import { hasKernel } from "./dispatch.js";
import { QkvAttention, qkvAttention, qkvAttentionReference } from "./qkv-attention.js";

const backends = await initBackends();
const TOLERANCE = 1e-4;

const cases = [
  { name: "ViT-like T=50, 3 heads of 16", batch: 2, tokens: 50, heads: 3, headSize: 16, causal: false },
  { name: "text-like causal T=13, 2 heads of 8, scale 0.2", batch: 1, tokens: 13, heads: 2, headSize: 8, causal: true, scale: 0.2 },
  { name: "one token, one head of 5", batch: 3, tokens: 1, heads: 1, headSize: 5, causal: false },
];

/** The expected [B, T, H·Dh] in double precision, head by head from the packed qkv. */
async function expected(qkv: tf.Tensor, heads: number, causal: boolean, scale?: number): Promise<Float32Array> {
  const [batch, tokens, packed] = qkv.shape as [number, number, number];
  const width = packed / 3;
  const headSize = width / heads;
  const data = (await qkv.data()) as Float32Array;
  const out = new Float32Array(batch * tokens * width);
  const take = (b: number, part: number, h: number) => {
    const t = new Float64Array(tokens * headSize);
    for (let i = 0; i < tokens; i++) for (let j = 0; j < headSize; j++) t[i * headSize + j] = data[(b * tokens + i) * packed + part * width + h * headSize + j]!;
    return t;
  };
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const o = attentionF64(take(b, 0, h), take(b, 1, h), take(b, 2, h), [1, 1, tokens, headSize], tokens, { causal, scale: scale ?? 1 / Math.sqrt(headSize) });
      for (let i = 0; i < tokens; i++) for (let j = 0; j < headSize; j++) out[(b * tokens + i) * width + h * headSize + j] = o[i * headSize + j]!;
    }
  }
  return out;
}

describe.each(backends)("qkvAttention on %s", (backend) => {
  afterAll(() => useBackend("cpu"));

  it.each(cases)("$name matches the double reference within 1e-4; memory unchanged", async (c) => {
    await useBackend(backend);
    const qkv = randomTensor([c.batch, c.tokens, 3 * c.heads * c.headSize], 5, 2);
    const before = tf.memory().numTensors;
    const y = qkvAttention(qkv, { heads: c.heads, causal: c.causal, scale: c.scale });
    expect(y.shape).toEqual([c.batch, c.tokens, c.heads * c.headSize]);
    expect(relativeErrorOf((await y.data()) as Float32Array, await expected(qkv, c.heads, c.causal, c.scale))).toBeLessThanOrEqual(TOLERANCE);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    qkv.dispose();
  });

  it("its gradient matches the cpu backend's gradient of the composition within 1e-4", async () => {
    const c = cases[1]!;
    const shape = [c.batch, c.tokens, 3 * c.heads * c.headSize];
    const attrs = { heads: c.heads, causal: c.causal, scale: c.scale ?? 1 / Math.sqrt(c.headSize) };
    await useBackend("cpu");
    const qkvCpu = randomTensor(shape, 6, 2);
    const wCpu = randomTensor([c.batch, c.tokens, c.heads * c.headSize], 9);
    const want = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(qkvAttentionReference(x, attrs), wCpu)))(qkvCpu); // loss Σ w ⊙ y
    await useBackend(backend);
    const qkv = randomTensor(shape, 6, 2);
    const w = randomTensor([c.batch, c.tokens, c.heads * c.headSize], 9);
    const before = tf.memory().numTensors;
    const got = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(qkvAttention(x, { heads: c.heads, causal: c.causal, scale: c.scale }), w)))(qkv);
    expect(await relativeError(got, want)).toBeLessThanOrEqual(TOLERANCE);
    got.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([qkv, w, qkvCpu, wCpu, want]);
  });

  it("rejects a bad head count, a width that does not split, and wrong ranks, naming the problem", async () => {
    await useBackend(backend);
    const qkv = tf.zeros([1, 4, 12]);
    expect(() => qkvAttention(qkv, { heads: 0 })).toThrow(/heads must be a positive integer/);
    expect(() => qkvAttention(qkv, { heads: 5 })).toThrow(/multiple of 3 · 5/);
    expect(() => qkvAttention(tf.zeros([4, 12]), { heads: 2 })).toThrow(/qkv must have rank 3/);
    expect(() => qkvAttention(qkv, { heads: 2, scale: -1 })).toThrow(/scale/);
    tf.dispose(qkv);
  });

  it(`runs ${backend === "native" ? "the fused kernel" : "the composition"}`, async () => {
    await useBackend(backend);
    expect(hasKernel(QkvAttention)).toBe(backend === "native");
  });
});
