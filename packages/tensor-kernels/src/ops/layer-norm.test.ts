import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import "../register.js";
import { compiledPipelines, initBackends, randomTensor, relativeError, useBackend } from "../testing/backends.js";
import { layerNormF64 } from "../testing/reference.js";
import { hasKernel } from "./dispatch.js";
import { layerNorm, layerNormReference } from "./layer-norm.js";

const backends = await initBackends();
const shapes = [[1, 8], [3, 77], [2, 5, 768], [4, 257], [2, 3, 4, 33]];

describe.each(backends)("layerNorm on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("has a fused kernel", () => expect(hasKernel("ProjLayerNorm")).toBe(true));

  it.each(shapes)("matches a float64 reference at [%s] within 1e-5 relative", async (...shape) => {
    const before = tf.memory().numTensors;
    const c = shape[shape.length - 1]!;
    const x = randomTensor(shape, 1, 3, 0.5);
    const gamma = randomTensor([c], 2, 1, 1);
    const beta = randomTensor([c], 3);
    const y = layerNorm(x, gamma, beta, { epsilon: 1e-5 });
    const expected = layerNormF64(await x.data(), await gamma.data(), await beta.data(), c, 1e-5);
    expect(y.shape).toEqual(shape);
    expect(await relativeError(y, expected)).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, gamma, beta, y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("has gradients equal to autodiff of the composition", async () => {
    const x = randomTensor([3, 77], 4, 2);
    const gamma = randomTensor([77], 5, 1, 1);
    const beta = randomTensor([77], 6);
    const w = randomTensor([3, 77], 7);
    const before = tf.memory().numTensors;
    const loss = (f: typeof layerNormReference) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(a, g, b, 1e-5), w)) as tf.Scalar;
    const fused = tf.grads(loss((a, g, b, e) => layerNorm(a, g, b, { epsilon: e })))([x, gamma, beta]);
    const plain = tf.grads(loss(layerNormReference))([x, gamma, beta]);
    for (let i = 0; i < 3; i++) expect(await relativeError(fused[i]!, plain[i]!)).toBeLessThanOrEqual(1e-4);
    tf.dispose([...fused, ...plain]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, gamma, beta, w]);
  });
});

describe.runIf(backends.includes("webgpu"))("layerNorm WebGPU program cache", () => {
  beforeAll(() => useBackend("webgpu"));

  it("compiles the shader once per rank, whatever the sizes", async () => {
    const run = async (shape: number[]) => {
      const c = shape[shape.length - 1]!;
      const y = tf.tidy(() => layerNorm(tf.ones(shape), tf.ones([c]), tf.zeros([c])));
      await y.data();
      y.dispose();
    };
    await run([3, 5]);
    const afterFirst = compiledPipelines("projLayerNorm");
    for (const shape of [[7, 77], [2, 257], [1, 3]]) await run(shape);
    expect(compiledPipelines("projLayerNorm")).toBe(afterFirst);
    await run([1, 1, 2, 3, 5]); // a rank not seen before is a new program
    expect(compiledPipelines("projLayerNorm")).toBe(afterFirst + 1);
  });
});

describe("layerNorm input checks", () => {
  it.each([
    ["gamma of the wrong length", () => layerNorm(tf.zeros([2, 4]), tf.ones([3]), tf.zeros([4])), "layerNorm: gamma must have shape [4] (the last axis of x), got [3]"],
    ["integer x", () => layerNorm(tf.zeros([2, 4], "int32"), tf.ones([4]), tf.zeros([4])), "layerNorm: x must be float32, got int32"],
    ["scalar x", () => layerNorm(tf.scalar(1), tf.ones([1]), tf.zeros([1])), "layerNorm: x must have rank ≥ 1"],
    ["negative epsilon", () => layerNorm(tf.zeros([2, 4]), tf.ones([4]), tf.zeros([4]), { epsilon: -1 }), "epsilon must be a positive finite number"],
    ["not a tensor", () => layerNorm([1, 2] as never, tf.ones([2]), tf.zeros([2])), "layerNorm: x must be a tf.Tensor"],
  ])("%s", (_name, call, message) => {
    expect(() => tf.tidy(call)).toThrow(message);
  });
});
