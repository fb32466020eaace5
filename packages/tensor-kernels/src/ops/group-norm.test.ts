import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import "../register.js";
import { groupNormCpuConfig, groupNormGradCpuConfig } from "../kernels/cpu/group-norm.js";
import { compiledPipelines, initBackends, randomTensor, relativeError, useBackend } from "../testing/backends.js";
import { groupNormF64 } from "../testing/reference-group-norm.js";
import { hasKernel } from "./dispatch.js";
import { groupNorm, groupNormReference, type GroupNormActivation } from "./group-norm.js";

const backends = await initBackends();

/** [shape, groups]: small on purpose (a barrier-heavy workgroup costs ~50 µs on SwiftShader). */
const cases: [number[], number][] = [
  [[2, 8, 8, 32], 8], // the U-Net layout in miniature
  [[1, 5, 7, 12], 3], // odd spatial sizes, 4 channels per group
  [[1, 9, 9, 64], 32], // 32 groups as in the unCLIP decoder
  [[2, 3, 5, 15], 5], // odd channel count, 3 per group
  [[1, 17, 15, 6], 6], // one channel per group; 1530 elements per group > 256 invocations
  [[3, 2, 2, 8], 1], // one group: layerNorm over H, W, C
  [[2, 77, 12], 4], // rank 3: [N, L, C]
  [[1, 257, 9], 3], // rank 3, L not a multiple of the workgroup size
  [[1, 33, 32, 16], 2], // 8448 elements per group: the WebGPU stats run in 3 chunks of 352 positions, merged
  [[2, 1100, 4], 1], // rank 3, 4400 elements per group: 2 chunks
  [[1, 3, 5, 600], 2], // 300 channels per group, more than the 256 invocations of a WebGPU stats workgroup
];
const activations: (GroupNormActivation | undefined)[] = [undefined, "silu"];

async function expectedOf(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, groups: number, epsilon: number, activation?: GroupNormActivation) {
  const channels = x.shape[x.rank - 1]!;
  return groupNormF64(await x.data(), await gamma.data(), await beta.data(), x.shape[0]!, channels, groups, epsilon, activation === "silu");
}

describe.each(backends)("groupNorm on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("has a fused kernel, and a fused gradient kernel on the host backends", () => {
    expect(hasKernel("ProjGroupNorm")).toBe(true);
    expect(hasKernel("ProjGroupNormGrad")).toBe(backend !== "webgpu");
  });

  describe.each(activations)("activation %s", (activation) => {
    it.each(cases)("matches a float64 reference at [%s], %i groups, within 1e-5 relative", async (shape, groups) => {
      const before = tf.memory().numTensors;
      const c = shape[shape.length - 1]!;
      const x = randomTensor(shape, 1, 3, 0.5);
      const gamma = randomTensor([c], 2, 1, 1);
      const beta = randomTensor([c], 3);
      const y = groupNorm(x, gamma, beta, { groups, epsilon: 1e-5, activation });
      expect(y.shape).toEqual(shape);
      expect(await relativeError(y, await expectedOf(x, gamma, beta, groups, 1e-5, activation))).toBeLessThanOrEqual(1e-5);
      tf.dispose([x, gamma, beta, y]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it("keeps 1e-5 with a large offset and a small spread (two-pass variance), epsilon 1e-6", async () => {
    const x = randomTensor([2, 6, 6, 16], 8, 0.01, 100);
    const gamma = randomTensor([16], 9, 1, 1);
    const beta = randomTensor([16], 10);
    const y = groupNorm(x, gamma, beta, { groups: 4, epsilon: 1e-6, activation: "silu" });
    // x is float32, so the reference sees the same rounded inputs; the loss is in the kernels' arithmetic.
    expect(await relativeError(y, await expectedOf(x, gamma, beta, 4, 1e-6, "silu"))).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, gamma, beta, y]);
  });

  it.each([[[0, 4, 4, 8]], [[2, 0, 3, 8]], [[2, 0, 6]]])("returns an empty result for empty x [%s]", async (shape) => {
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => groupNorm(tf.zeros(shape), tf.ones([shape[shape.length - 1]!]), tf.zeros([shape[shape.length - 1]!]), { groups: 2, activation: "silu" }));
    expect(y.shape).toEqual(shape);
    expect((await y.data()).length).toBe(0);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the plain composition matches the float64 reference too", async () => {
    const x = randomTensor([2, 5, 7, 12], 11, 3, 0.5);
    const gamma = randomTensor([12], 12, 1, 1);
    const beta = randomTensor([12], 13);
    const before = tf.memory().numTensors;
    const y = groupNormReference(x, gamma, beta, { groups: 3, activation: "silu" });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(await relativeError(y, await expectedOf(x, gamma, beta, 3, 1e-5, "silu"))).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, gamma, beta, y]);
  });

  describe.each(activations)("gradients, activation %s", (activation) => {
    it.each([
      [[2, 5, 7, 12], 3],
      [[1, 7, 5, 6], 6],
      [[2, 9, 6], 2],
    ] as [number[], number][])("equal autodiff of the composition at [%s], %i groups, within 1e-4", async (shape, groups) => {
      const c = shape[shape.length - 1]!;
      const x = randomTensor(shape, 4, 2, 0.3);
      const gamma = randomTensor([c], 5, 1, 1);
      const beta = randomTensor([c], 6);
      const w = randomTensor(shape, 7);
      const before = tf.memory().numTensors;
      const options = { groups, epsilon: 1e-5, activation };
      const loss = (f: typeof groupNormReference) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(f(a, g, b, options), w)) as tf.Scalar;
      const fused = tf.grads(loss(groupNorm))([x, gamma, beta]);
      const plain = tf.grads(loss(groupNormReference))([x, gamma, beta]);
      for (let i = 0; i < 3; i++) {
        expect(fused[i]!.shape).toEqual(plain[i]!.shape);
        expect(await relativeError(fused[i]!, plain[i]!)).toBeLessThanOrEqual(1e-4);
      }
      tf.dispose([...fused, ...plain]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, gamma, beta, w]);
    });
  });
});

describe("groupNorm fallback without a registered kernel", () => {
  it("runs the composition on cpu after the kernel is unregistered", async () => {
    await useBackend("cpu");
    const x = randomTensor([2, 4, 4, 8], 14, 2, 0.5);
    const gamma = randomTensor([8], 15, 1, 1);
    const beta = randomTensor([8], 16);
    tf.unregisterKernel("ProjGroupNorm", "cpu");
    try {
      expect(hasKernel("ProjGroupNorm")).toBe(false);
      const before = tf.memory().numTensors;
      const y = groupNorm(x, gamma, beta, { groups: 2, activation: "silu" });
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(await relativeError(y, await expectedOf(x, gamma, beta, 2, 1e-5, "silu"))).toBeLessThanOrEqual(1e-5);
      y.dispose();
    } finally {
      tf.registerKernel(groupNormCpuConfig);
    }
    expect(hasKernel("ProjGroupNorm")).toBe(true);
    tf.dispose([x, gamma, beta]);
  });
});

describe("groupNorm gradient", () => {
  const shape = [2, 4, 3, 8];
  const make = () => [randomTensor(shape, 20, 2, 0.5), randomTensor([8], 21, 1, 1), randomTensor([8], 22), randomTensor(shape, 23)];

  it("runs the formulas as tfjs ops on cpu after the gradient kernel is unregistered", async () => {
    await useBackend("cpu");
    const [x, gamma, beta, w] = make() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const options = { groups: 4, activation: "silu" as const };
    const loss = (f: typeof groupNormReference) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(a, g, b, options), w)) as tf.Scalar;
    tf.unregisterKernel("ProjGroupNormGrad", "cpu");
    try {
      expect(hasKernel("ProjGroupNormGrad")).toBe(false);
      const before = tf.memory().numTensors;
      const fused = tf.grads(loss(groupNorm))([x, gamma, beta]);
      const plain = tf.grads(loss(groupNormReference))([x, gamma, beta]);
      for (let i = 0; i < 3; i++) expect(await relativeError(fused[i]!, plain[i]!)).toBeLessThanOrEqual(1e-4);
      tf.dispose([...fused, ...plain]);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      tf.registerKernel(groupNormGradCpuConfig);
    }
    tf.dispose([x, gamma, beta, w]);
  });

  it.each(backends)("leaks nothing on %s when only dx is wanted", async (backend) => {
    await useBackend(backend);
    const [x, gamma, beta, w] = make() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const before = tf.memory().numTensors;
    const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(groupNorm(a, gamma, beta, { groups: 2, activation: "silu" }), w)) as tf.Scalar)(x);
    expect(dx.shape).toEqual(shape);
    await dx.data();
    dx.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, gamma, beta, w]);
  });
});

describe.runIf(backends.includes("webgpu"))("groupNorm WebGPU program cache", () => {
  beforeAll(() => useBackend("webgpu"));

  it("compiles each program once per rank and activation, whatever the sizes", async () => {
    const run = async (shape: number[], groups: number, activation?: GroupNormActivation) => {
      const c = shape[shape.length - 1]!;
      const y = tf.tidy(() => groupNorm(tf.ones(shape), tf.ones([c]), tf.zeros([c]), { groups, activation }));
      await y.data();
      y.dispose();
    };
    // Every (rank, activation) once: the cache is per process, so earlier tests may have compiled some already.
    for (const activation of activations) {
      await run([1, 2, 2, 4], 2, activation);
      await run([2, 5, 4], 2, activation);
    }
    // One partial-stats program and one merge program (they read x and the partials as flat views; [1, 50, 50, 4]
    // needs the merge), one apply program per rank (3, 4) and activation.
    const counts = () => ["Partial", "Merge", "Apply"].map((p) => compiledPipelines(`projGroupNorm${p}`));
    expect(counts()).toEqual([1, 1, 4]);
    for (const activation of activations) {
      for (const [shape, groups] of [[[2, 3, 5, 6], 3], [[1, 4, 4, 32], 8], [[3, 1, 7, 9], 9], [[1, 33, 10], 5], [[1, 50, 50, 4], 1]] as [number[], number][]) {
        await run(shape, groups, activation);
      }
    }
    expect(counts()).toEqual([1, 1, 4]);
  });
});

describe("groupNorm input checks", () => {
  const ok = () => [tf.zeros([1, 2, 2, 32]), tf.ones([32]), tf.zeros([32])] as const;
  it.each([
    ["groups not dividing C", () => groupNorm(...ok(), { groups: 5 }), "groupNorm: groups (5) must divide the channel count 32"],
    ["fractional groups", () => groupNorm(...ok(), { groups: 2.5 }), "groupNorm: groups must be a positive integer, got 2.5"],
    ["zero groups", () => groupNorm(...ok(), { groups: 0 }), "groupNorm: groups must be a positive integer, got 0"],
    ["missing options", () => (groupNorm as (...a: unknown[]) => tf.Tensor)(...ok()), "groupNorm: groups must be a positive integer, got undefined"],
    ["rank 2 x", () => groupNorm(tf.zeros([4, 32]), tf.ones([32]), tf.zeros([32]), { groups: 4 }), "groupNorm: x must have rank 4 ([N, H, W, C]) or 3 ([N, L, C]), got shape [4, 32]"],
    ["rank 5 x", () => groupNorm(tf.zeros([1, 1, 2, 2, 4]), tf.ones([4]), tf.zeros([4]), { groups: 2 }), "groupNorm: x must have rank 4"],
    ["gamma of the wrong length", () => groupNorm(tf.zeros([1, 2, 2, 32]), tf.ones([16]), tf.zeros([32]), { groups: 4 }), "groupNorm: gamma must have shape [32] (the channel axis of x), got [16]"],
    ["beta of the wrong rank", () => groupNorm(tf.zeros([1, 2, 2, 32]), tf.ones([32]), tf.zeros([1, 32]), { groups: 4 }), "groupNorm: beta must have shape [32] (the channel axis of x), got [1, 32]"],
    ["integer x", () => groupNorm(tf.zeros([1, 2, 2, 32], "int32"), tf.ones([32]), tf.zeros([32]), { groups: 4 }), "groupNorm: x must be float32, got int32"],
    ["integer gamma", () => groupNorm(tf.zeros([1, 2, 2, 32]), tf.ones([32], "int32"), tf.zeros([32]), { groups: 4 }), "groupNorm: gamma must be float32, got int32"],
    ["negative epsilon", () => groupNorm(...ok(), { groups: 4, epsilon: -1 }), "groupNorm: epsilon must be a positive finite number, got -1"],
    ["unknown activation", () => groupNorm(...ok(), { groups: 4, activation: "relu" as never }), 'groupNorm: activation must be "silu" or undefined, got "relu"'],
    ["not a tensor", () => groupNorm([1, 2] as never, tf.ones([2]), tf.zeros([2]), { groups: 1 }), "groupNorm: x must be a tf.Tensor"],
  ])("%s", (_name, call, message) => {
    expect(() => tf.tidy(call)).toThrow(message);
  });
});
