import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../register.js";
import { attentionCpuConfig, maskedAttentionCpuConfig } from "../kernels/cpu/attention.js";
import { attentionWasmConfig, attentionWasmKernel, maskedAttentionWasmConfig, type AttentionWasmStrategy } from "../kernels/wasm/attention.js";
import { compiledPipelines, initBackends, randomTensor, relativeError, useBackend } from "../testing/backends.js";
import { attentionF64 } from "../testing/reference-attention.js";
import { Attention, attention, attentionReference, MaskedAttention, type AttentionOptions } from "./attention.js";
import { hasKernel } from "./dispatch.js";

const backends = await initBackends();

/** Tolerance of every forward and gradient comparison (norm-wise relative, `relativeError`). */
const TOLERANCE = 1e-4;

interface Case {
  name: string;
  q: [number, number, number, number]; // [B, H, Tq, D]
  keys: number; // Tk
  causal?: boolean;
  scale?: number;
  /** Mask shape; "padding" masks drop trailing keys with −∞ per batch row, others are random finite. */
  mask?: { shape: number[]; kind: "random" | "padding" };
}

// Small enough for SwiftShader (tens of workgroups), covering Tq ≠ Tk, Tq = 1, non-multiples of the 32-query
// block and of the key tile, D not a multiple of 4, and every mask broadcast.
const cases: Case[] = [
  { name: "text-like T=77, D=16", q: [1, 2, 77, 16], keys: 77 },
  { name: "Tq=5 < Tk=9, D=8, padding mask [B,1,1,Tk]", q: [2, 1, 5, 8], keys: 9, mask: { shape: [2, 1, 1, 9], kind: "padding" } },
  { name: "attention pool Tq=1, Tk=50, D=64", q: [1, 1, 1, 64], keys: 50 },
  { name: "causal T=33, D=64", q: [1, 2, 33, 64], keys: 33, causal: true },
  { name: "causal Tq=7 > Tk=4, D=5, mask [Tq,Tk]", q: [2, 3, 7, 5], keys: 4, causal: true, mask: { shape: [7, 4], kind: "random" } },
  { name: "causal Tq=5 < Tk=9 (top-left), D=3", q: [1, 2, 5, 3], keys: 9, causal: true },
  { name: "Tk=257, full mask [B,H,Tq,Tk], scale 0.3", q: [1, 2, 3, 12], keys: 257, scale: 0.3, mask: { shape: [1, 2, 3, 257], kind: "random" } },
  { name: "Tq=50, D=40, mask [H,1,Tk] (rank 3)", q: [2, 2, 50, 40], keys: 50, mask: { shape: [2, 1, 50], kind: "random" } },
];

function makeMask(shape: number[], kind: "random" | "padding", seed: number): tf.Tensor {
  if (kind === "random") return randomTensor(shape, seed, 2);
  const [batch, , , keys] = shape as [number, number, number, number];
  const values = new Float32Array(batch * keys);
  for (let b = 0; b < batch; b++) values.fill(-Infinity, b * keys + keys - 1 - 2 * b, (b + 1) * keys); // batch b keeps Tk − 1 − 2b keys
  return tf.tensor(values, shape);
}

interface Inputs {
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  mask?: tf.Tensor;
}

function makeInputs(c: Case, seed = 1): Inputs {
  const [batch, heads, , headSize] = c.q;
  const inputs: Inputs = {
    q: randomTensor(c.q, seed, 2),
    k: randomTensor([batch, heads, c.keys, headSize], seed + 1, 2),
    v: randomTensor([batch, heads, c.keys, headSize], seed + 2, 1, 0.5),
  };
  if (c.mask) inputs.mask = makeMask(c.mask.shape, c.mask.kind, seed + 3);
  return inputs;
}

const options = (c: Case, mask?: tf.Tensor): AttentionOptions => ({ causal: c.causal ?? false, scale: c.scale, mask });

async function expected(c: Case, { q, k, v, mask }: Inputs): Promise<Float64Array> {
  const scale = c.scale ?? 1 / Math.sqrt(c.q[3]);
  return attentionF64(await q.data(), await k.data(), await v.data(), c.q, c.keys, {
    scale,
    causal: c.causal ?? false,
    mask: mask && { values: await mask.data(), shape: mask.shape },
  });
}

function disposeInputs(inputs: Inputs): void {
  tf.dispose([inputs.q, inputs.k, inputs.v, ...(inputs.mask ? [inputs.mask] : [])]);
}

/** Registers the wasm kernels pinned to one strategy for the duration of `body`, then the configs again. */
async function withWasmStrategy(strategy: AttentionWasmStrategy, body: () => Promise<void>): Promise<void> {
  for (const name of [Attention, MaskedAttention]) {
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: attentionWasmKernel(strategy) });
  }
  try {
    await body();
  } finally {
    for (const config of [attentionWasmConfig, maskedAttentionWasmConfig]) {
      tf.unregisterKernel(config.kernelName, "wasm");
      tf.registerKernel(config);
    }
  }
}

// wasm runs once per strategy (each pinned), and once as registered (the choice by size).
const runs = backends.flatMap((backend): { label: string; backend: string; strategy?: AttentionWasmStrategy }[] =>
  backend === "wasm"
    ? (["fused", "gemm", "batched", "auto"] as const).map((strategy) => ({ label: `wasm (${strategy})`, backend, strategy }))
    : [{ label: backend, backend }],
);

describe.each(runs)("attention on $label", ({ backend, strategy }) => {
  beforeAll(() => useBackend(backend));
  const pinned = (body: () => Promise<void>) => (strategy === undefined || strategy === "auto" ? body() : withWasmStrategy(strategy, body));

  it("has fused kernels", () => {
    expect(hasKernel(Attention)).toBe(true);
    expect(hasKernel(MaskedAttention)).toBe(true);
  });

  it.each(cases)(`matches a float64 reference within ${TOLERANCE} relative: $name`, (c) =>
    pinned(async () => {
      const before = tf.memory().numTensors;
      const inputs = makeInputs(c);
      const y = attention(inputs.q, inputs.k, inputs.v, options(c, inputs.mask));
      expect(y.shape).toEqual(c.q);
      expect(await relativeError(y, await expected(c, inputs))).toBeLessThanOrEqual(TOLERANCE);
      y.dispose();
      disposeInputs(inputs);
      expect(tf.memory().numTensors).toBe(before);
    }),
  );

  it("gives zero rows, not NaN, where every key is dropped by −∞, and computes the softmax under finite masks", () =>
    pinned(async () => {
      const [batch, heads, queries, keys, d] = [1, 2, 4, 6, 8];
      const q = randomTensor([batch, heads, queries, d], 11);
      const k = randomTensor([batch, heads, keys, d], 12);
      const v = randomTensor([batch, heads, keys, d], 13, 1, 0.5);
      // rows 1 and 3 of every head: −∞ everywhere (dropped) and −1e9 everywhere (kept: a uniform average).
      const maskValues = new Float32Array(queries * keys);
      maskValues.fill(-Infinity, keys, 2 * keys);
      maskValues.fill(-1e9, 3 * keys, 4 * keys);
      const mask = tf.tensor(maskValues, [queries, keys]);
      const y = attention(q, k, v, { mask });
      const out = await y.data();
      const vs = await v.data();
      expect(out.every(Number.isFinite)).toBe(true);
      for (let h = 0; h < heads; h++) {
        const row = (i: number) => Array.from(out.subarray((h * queries + i) * d, (h * queries + i + 1) * d));
        expect(row(1).every((x) => x === 0)).toBe(true);
        const meanV = Array.from({ length: d }, (_, c) => {
          let total = 0;
          for (let j = 0; j < keys; j++) total += vs[(h * keys + j) * d + c]!;
          return total / keys;
        });
        row(3).forEach((x, c) => expect(x).toBeCloseTo(meanV[c]!, 5));
      }
      const composed = attentionReference(q, k, v, { mask });
      expect(await relativeError(composed, y)).toBeLessThanOrEqual(TOLERANCE);
      tf.dispose([q, k, v, mask, y, composed]);
    }),
  );
});

describe.each(backends)("attention gradients on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it.each([
    { name: "plain, Tq ≠ Tk", q: [2, 2, 5, 8], keys: 7 } as Case,
    { name: "causal", q: [1, 2, 9, 6], keys: 9, causal: true } as Case,
    { name: "mask [B,1,1,Tk] (padding)", q: [2, 1, 5, 8], keys: 9, mask: { shape: [2, 1, 1, 9], kind: "padding" } } as Case,
    { name: "causal with a random mask [Tq,Tk], scale 0.5", q: [2, 2, 6, 5], keys: 6, causal: true, scale: 0.5, mask: { shape: [6, 6], kind: "random" } } as Case,
  ])(`equal autodiff of the composition within ${TOLERANCE}: $name`, async (c) => {
    const inputs = makeInputs(c, 21);
    const w = randomTensor(c.q, 25);
    const before = tf.memory().numTensors;
    const xs = [inputs.q, inputs.k, inputs.v, ...(inputs.mask ? [inputs.mask] : [])];
    const loss = (f: typeof attention) => (...args: tf.Tensor[]) =>
      tf.sum(tf.mul(f(args[0]!, args[1]!, args[2]!, options(c, args[3])), w)) as tf.Scalar;
    const fused = tf.grads(loss(attention))(xs);
    const plain = tf.grads(loss(attentionReference))(xs);
    for (let i = 0; i < xs.length; i++) {
      expect(fused[i]!.shape).toEqual(xs[i]!.shape);
      expect(await relativeError(fused[i]!, plain[i]!), `gradient ${["q", "k", "v", "mask"][i]}`).toBeLessThanOrEqual(TOLERANCE);
    }
    tf.dispose([...fused, ...plain]);
    expect(tf.memory().numTensors).toBe(before);
    disposeInputs(inputs);
    w.dispose();
  });

  it("gives zero, finite gradients on rows whose keys are all dropped", async () => {
    const q = randomTensor([1, 1, 3, 4], 31);
    const k = randomTensor([1, 1, 5, 4], 32);
    const v = randomTensor([1, 1, 5, 4], 33);
    const maskValues = new Float32Array(15);
    maskValues.fill(-Infinity, 5, 10); // query 1 sees nothing
    const mask = tf.tensor(maskValues, [3, 5]);
    const [dq, dk, dv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(attention(a, b, c, { mask })) as tf.Scalar)([q, k, v]);
    for (const g of [dq!, dk!, dv!]) expect((await g.data()).every(Number.isFinite)).toBe(true);
    expect((await dq!.data()).subarray(4, 8).every((x) => x === 0)).toBe(true);
    tf.dispose([q, k, v, mask, dq!, dk!, dv!]);
  });
});

describe("attention composition (the fallback without a kernel)", () => {
  beforeAll(async () => {
    await useBackend("cpu");
    tf.unregisterKernel(Attention, "cpu");
    tf.unregisterKernel(MaskedAttention, "cpu");
  });
  afterAll(() => {
    for (const config of [attentionCpuConfig, maskedAttentionCpuConfig]) tf.registerKernel(config);
  });

  it.each(cases)("matches the float64 reference when the kernels are unregistered: $name", async (c) => {
    expect(hasKernel(Attention)).toBe(false);
    expect(hasKernel(MaskedAttention)).toBe(false);
    const before = tf.memory().numTensors;
    const inputs = makeInputs(c, 41);
    const y = attention(inputs.q, inputs.k, inputs.v, options(c, inputs.mask));
    expect(await relativeError(y, await expected(c, inputs))).toBeLessThanOrEqual(TOLERANCE);
    y.dispose();
    disposeInputs(inputs);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.runIf(backends.includes("webgpu"))("attention on WebGPU", () => {
  beforeAll(() => useBackend("webgpu"));

  const run = async (q: number[], keys: number, opts: { causal?: boolean; maskShape?: number[] } = {}) => {
    const [b, h, , d] = q as [number, number, number, number];
    const y = tf.tidy(() =>
      attention(tf.ones(q), tf.ones([b, h, keys, d]), tf.ones([b, h, keys, d]), {
        causal: opts.causal,
        mask: opts.maskShape && tf.zeros(opts.maskShape),
      }),
    );
    await y.data();
    y.dispose();
  };

  it("compiles one program per (D, causal, masked), whatever B, H, Tq, Tk and the mask's broadcast", async () => {
    await run([1, 2, 5, 16], 7);
    const afterFirst = compiledPipelines("projAttention");
    for (const [q, keys] of [[[2, 1, 40, 16], 3], [[1, 3, 1, 16], 50], [[1, 1, 33, 16], 33]] as const) await run([...q], keys);
    expect(compiledPipelines("projAttention")).toBe(afterFirst);
    await run([1, 2, 5, 16], 7, { causal: true });
    await run([2, 1, 9, 16], 9, { causal: true });
    expect(compiledPipelines("projAttention")).toBe(afterFirst + 1);
    await run([2, 2, 5, 16], 7, { maskShape: [2, 1, 1, 7] });
    await run([2, 2, 5, 16], 7, { maskShape: [5, 7] });
    await run([1, 2, 6, 16], 3, { maskShape: [1, 2, 6, 3] });
    expect(compiledPipelines("projAttention")).toBe(afterFirst + 2);
    await run([1, 2, 5, 24], 7);
    expect(compiledPipelines("projAttention")).toBe(afterFirst + 3);
  });

  it("never allocates a buffer the size of the scores [B, H, Tq, Tk]", async () => {
    const manager = (tf.backend() as unknown as { bufferManager: { acquireBuffer: (size: number, ...rest: unknown[]) => unknown } }).bufferManager;
    // Outputs of GPU programs, so that no upload happens during the call (tf.ones keeps its values on the CPU).
    const [q, kv, mask] = tf.tidy(() => [tf.mul(tf.ones([1, 2, 64, 8]), 1), tf.mul(tf.ones([1, 2, 256, 8]), 1), tf.mul(tf.zeros([1, 1, 1, 256]), 1)]);
    const sizes: number[] = [];
    const acquire = manager.acquireBuffer;
    manager.acquireBuffer = (size, ...rest) => {
      sizes.push(size);
      return acquire.call(manager, size, ...rest);
    };
    let y: tf.Tensor;
    try {
      y = attention(q!, kv!, kv!, { mask, causal: true });
      await y.data();
    } finally {
      manager.acquireBuffer = acquire;
    }
    const outputBytes = 2 * 64 * 8 * 4;
    const scoreBytes = 2 * 64 * 256 * 4;
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(outputBytes); // output, uniforms and the read-back staging buffer
    expect(outputBytes * 16).toBeLessThanOrEqual(scoreBytes);
    tf.dispose([q!, kv!, mask!, y!]);
  });

  it("falls back to the composition above the kernel's head size", async () => {
    const c: Case = { name: "D=520", q: [1, 1, 2, 520], keys: 3 };
    const inputs = makeInputs(c, 51);
    const y = attention(inputs.q, inputs.k, inputs.v);
    expect(await relativeError(y, await expected(c, inputs))).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([y]);
    disposeInputs(inputs);
  });
});

describe("attention input checks", () => {
  beforeAll(() => useBackend("cpu"));
  const q = () => tf.zeros([2, 3, 5, 8]);
  const kv = (keys = 7) => tf.zeros([2, 3, keys, 8]);

  it.each([
    ["q of rank 3", () => attention(tf.zeros([3, 5, 8]), kv(), kv()), "attention: q must have rank 4, got shape [3, 5, 8]"],
    ["k with another batch", () => attention(q(), tf.zeros([1, 3, 7, 8]), tf.zeros([1, 3, 7, 8])), "attention: k must have shape [B, H, Tk, D] = [2, 3, Tk, 8] (batch, heads and head size of q), got [1, 3, 7, 8]"],
    ["k with other heads", () => attention(q(), tf.zeros([2, 4, 7, 8]), tf.zeros([2, 4, 7, 8])), "got [2, 4, 7, 8]"],
    ["k with another head size", () => attention(q(), tf.zeros([2, 3, 7, 6]), tf.zeros([2, 3, 7, 6])), "[2, 3, Tk, 8]"],
    ["v of another length than k", () => attention(q(), kv(7), kv(6)), "attention: v must have the shape of k [2, 3, 7, 8] (k has 7 keys, v has 6 values), got [2, 3, 6, 8]"],
    ["int32 q", () => attention(tf.zeros([2, 3, 5, 8], "int32"), kv(), kv()), "attention: q must be float32, got int32"],
    ["int32 v", () => attention(q(), kv(), tf.zeros([2, 3, 7, 8], "int32")), "attention: v must be float32, got int32"],
    ["bool mask", () => attention(q(), kv(), kv(), { mask: tf.zeros([5, 7], "bool") }), "attention: mask must be float32 (an additive mask"],
    ["mask of the wrong keys", () => attention(q(), kv(), kv(), { mask: tf.zeros([2, 1, 1, 6]) }), "attention: mask of shape [2, 1, 1, 6] is not broadcastable to the scores [B, H, Tq, Tk] = [2, 3, 5, 7]"],
    ["mask of rank 5", () => attention(q(), kv(), kv(), { mask: tf.zeros([1, 2, 1, 1, 7]) }), "is not broadcastable"],
    ["mask [Tk, Tq] transposed", () => attention(q(), kv(), kv(), { mask: tf.zeros([7, 5]) }), "mask of shape [7, 5] is not broadcastable"],
    ["zero scale", () => attention(q(), kv(), kv(), { scale: 0 }), "attention: scale must be a positive finite number, got 0"],
    ["NaN scale", () => attention(q(), kv(), kv(), { scale: NaN }), "attention: scale must be a positive finite number, got NaN"],
    ["negative scale", () => attention(q(), kv(), kv(), { scale: -1 }), "scale must be a positive finite number, got -1"],
    ["non-boolean causal", () => attention(q(), kv(), kv(), { causal: 1 as never }), "attention: causal must be a boolean, got number"],
    ["empty k", () => attention(q(), kv(0), kv(0)), "attention: k must not be empty, got shape [2, 3, 0, 8]"],
    ["not a tensor", () => attention([1, 2] as never, kv(), kv()), "attention: q must be a tf.Tensor"],
    ["a mask that is not a tensor", () => attention(q(), kv(), kv(), { mask: [0] as never }), "attention: mask must be a tf.Tensor"],
  ])("%s", (_name, call, message) => {
    const before = tf.memory().numTensors;
    expect(() => tf.tidy(call)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });
});
