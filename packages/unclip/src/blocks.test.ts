/**
 * The residual and attention blocks against plain tfjs compositions of their equations (testing/reference.ts):
 * outputs and the gradients of every parameter, on cpu and on wasm (with the wasm gap kernels).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { afterAll, describe, expect, it } from "vitest";
import { AttentionBlock } from "./attention-block.js";
import type { Module } from "./module.js";
import { ResnetBlock } from "./resnet-block.js";
import { gradientsByKey, relativeError, seededNormal } from "./testing/helpers.js";
import { attentionBlockPlain, resnetBlockPlain } from "./testing/reference.js";

afterAll(() => tf.disposeVariables());

/** Output and parameter gradients of `ours` vs `plain` for the loss Σ out·R. */
function compare(module: Module, ours: () => tf.Tensor, plain: () => tf.Tensor): { output: number; worstGrad: number } {
  const a = tf.tidy(ours);
  const b = tf.tidy(plain);
  const output = relativeError(a.dataSync(), b.dataSync());
  const r = seededNormal(a.shape, 99);
  const lossOf = (f: () => tf.Tensor) => () => tf.sum(tf.mul(f(), r)) as tf.Scalar;
  const ga = gradientsByKey(module, lossOf(ours)).grads;
  const gb = gradientsByKey(module, lossOf(plain)).grads;
  let worstGrad = 0;
  for (const [key, g] of gb) {
    const norm = Math.hypot(...g);
    if (norm === 0) continue; // e.g. a bias whose gradient is exactly zero both ways
    worstGrad = Math.max(worstGrad, relativeError(ga.get(key)!, g));
  }
  tf.dispose([a, b, r]);
  return { output, worstGrad };
}

describe.each(["cpu", "wasm"])("blocks on %s", (backend) => {
  it("ResnetBlock (scale-shift and additive, channel change) matches the plain composition", async () => {
    await tf.setBackend(backend);
    for (const useScaleShiftNorm of [true, false]) {
      const block = new ResnetBlock({ inChannels: 8, outChannels: 12, embedDim: 16, groups: 4, useScaleShiftNorm }).initialise(1, { zeroOutputs: false });
      const x = seededNormal([2, 6, 6, 8], 1) as tf.Tensor4D;
      const emb = seededNormal([2, 16], 2) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      const { output, worstGrad } = compare(block, () => block.forward(x, emb), () => resnetBlockPlain(block, x, emb));
      expect(tf.memory().numTensors).toBe(before);
      expect(output, `output, scale-shift ${useScaleShiftNorm}`).toBeLessThan(1e-5);
      expect(worstGrad, `gradients, scale-shift ${useScaleShiftNorm}`).toBeLessThan(1e-4);
      tf.dispose([x, emb]);
      block.dispose();
    }
  });

  it("AttentionBlock with context tokens and a key mask matches the plain composition", async () => {
    await tf.setBackend(backend);
    const block = new AttentionBlock({ channels: 16, headChannels: 8, groups: 4, contextDim: 12 }).initialise(2, { zeroOutputs: false });
    const x = seededNormal([2, 4, 4, 16], 3) as tf.Tensor4D;
    const tokens = seededNormal([2, 5, 12], 4) as tf.Tensor3D;
    const bias = tf.tensor4d([0, 0, 0, -1e9, -1e9, 0, 0, 0, 0, 0], [2, 1, 1, 5]);
    const context = { tokens, bias };
    const before = tf.memory().numTensors;
    const { output, worstGrad } = compare(block, () => block.forward(x, context), () => attentionBlockPlain(block, x, context));
    expect(tf.memory().numTensors).toBe(before);
    expect(output).toBeLessThan(1e-5);
    expect(worstGrad).toBeLessThan(1e-4);
    // A masked context token has no effect.
    const changed = tf.concat([tf.slice(tokens, [0, 0, 0], [1, 3, 12]), tf.fill([1, 2, 12], 5), tf.slice(tokens, [1, 0, 0], [1, 5, 12])], 1) as tf.Tensor3D;
    const changedTokens = tf.reshape(changed, [2, 5, 12]) as tf.Tensor3D;
    const y1 = block.forward(x, context);
    const y2 = block.forward(x, { tokens: changedTokens, bias });
    expect(relativeError(y2.dataSync(), y1.dataSync())).toBeLessThan(1e-6);
    tf.dispose([x, tokens, bias, changed, changedTokens, y1, y2]);
    block.dispose();
  });
});
