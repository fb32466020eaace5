import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { randomTensor } from "../../testing/backends.js";
import { leakOnWasm, runOn, setUpWasmGapKernels, wasmVsCpu } from "./test-support.js";

/** Deterministic ids in [lo, hi), repeats included. */
function ids(count: number, lo: number, hi: number, seed: number): tf.Tensor1D {
  const values = Int32Array.from({ length: count }, (_, i) => lo + ((i * 7919 + seed * 104729) % (hi - lo)));
  return tf.tensor1d(values, "int32");
}

await setUpWasmGapKernels();

describe("UnsortedSegmentSum on wasm", () => {
  beforeAll(() => tf.setBackend("wasm"));

  it("is registered", () => expect(tf.getKernel("UnsortedSegmentSum", "wasm")).toBeDefined());

  it.each([
    [[7], 3],
    [[13, 5], 4],
    [[50, 33], 17],
    [[9, 3, 4], 5],
    [[6, 2, 3, 5], 6],
    [[1, 1], 1],
    [[40, 64], 150], // more segments than rows: most sums are zero
  ])("matches cpu at x [%s] with %i segments", async (shape, numSegments) => {
    const before = tf.memory().numTensors;
    const { error, shape: out } = await wasmVsCpu(() => tf.unsortedSegmentSum(randomTensor(shape, 3), ids(shape[0]!, 0, numSegments, 1), numSegments));
    expect(out).toEqual([numSegments, ...shape.slice(1)]);
    expect(error).toBeLessThanOrEqual(1e-6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("drops ids outside [0, numSegments), as TensorFlow and the cpu backend do", async () => {
    const compute = () => tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]), tf.tensor1d([-1, 2, 5, 0], "int32"), 3);
    const wasm = await runOn("wasm", compute);
    expect(Array.from(wasm.values)).toEqual([7, 8, 0, 0, 3, 4]);
    expect(Array.from((await runOn("cpu", compute)).values)).toEqual([7, 8, 0, 0, 3, 4]);
  });

  it("sums int32 data as int32", async () => {
    const wasm = await runOn("wasm", () => tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], "int32"), tf.tensor1d([1, 0, 1, 1], "int32"), 2));
    expect(wasm.values).toBeInstanceOf(Int32Array);
    expect(Array.from(wasm.values)).toEqual([2, 8]);
  });

  it("is the gradient of gather (an embedding lookup), equal to cpu's", async () => {
    const { error, shape } = await wasmVsCpu(() => {
      const table = randomTensor([37, 12], 5);
      const tokens = ids(4 * 9, 0, 37, 2).reshape([4, 9]);
      const w = randomTensor([4, 9, 12], 6);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tokens), w)))(table);
    });
    expect(shape).toEqual([37, 12]);
    expect(error).toBeLessThanOrEqual(1e-6);
  });

  it("leaks no tensor and no heap buffer", async () => {
    expect(await leakOnWasm(() => tf.unsortedSegmentSum(randomTensor([40, 8], 1), ids(40, 0, 10, 3), 10))).toEqual({ tensors: 0, buffers: 0 });
  });

  it("refuses ids that do not match the first axis of x", () => {
    const run = () => tf.unsortedSegmentSum(tf.zeros([4, 2]), tf.tensor1d([0, 1, 0], "int32"), 2);
    expect(() => tf.tidy(run)).toThrow("UnsortedSegmentSum on wasm: segmentIds must have shape [4] (the first axis of x), got [3]");
  });
});
