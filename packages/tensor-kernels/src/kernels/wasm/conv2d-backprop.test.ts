import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { randomTensor } from "../../testing/backends.js";
import { conv2dBackpropFilter } from "./conv2d-backprop-filter.js";
import { conv2dBackpropInput } from "./conv2d-backprop-input.js";
import { leakOnWasm, runOn, setUpWasmGapKernels, wasmVsCpu, relativeErrorOf } from "./test-support.js";
import type { WasmBackend } from "./wasm-heap.js";

type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  x: [number, number, number, number]; // [N, H, W, Cin]
  filter: [number, number, number, number]; // [FH, FW, Cin, Cout]
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

// Odd sizes, every padding kind, strides 1–3, non-square filters, 1×1, a filter as large as the image.
const cases: [string, Case][] = [
  ["3×3 same s1", { x: [2, 9, 7, 3], filter: [3, 3, 3, 5], strides: 1, pad: "same" }],
  ["3×3 valid s1", { x: [1, 8, 8, 4], filter: [3, 3, 4, 6], strides: 1, pad: "valid" }],
  ["3×3 same s2", { x: [3, 11, 10, 2], filter: [3, 3, 2, 7], strides: 2, pad: "same" }],
  ["5×3 same s(2,3)", { x: [2, 13, 17, 3], filter: [5, 3, 3, 4], strides: [2, 3], pad: "same" }],
  ["4×4 valid s2 (even filter)", { x: [2, 10, 9, 5], filter: [4, 4, 5, 3], strides: 2, pad: "valid" }],
  ["1×1 s1", { x: [2, 6, 5, 16], filter: [1, 1, 16, 9], strides: 1, pad: "valid" }],
  ["explicit pads", { x: [2, 7, 9, 3], filter: [3, 2, 3, 4], strides: [1, 2], pad: [[0, 0], [1, 2], [0, 3], [0, 0]] }],
  ["numeric pad 1, round", { x: [1, 9, 9, 2], filter: [3, 3, 2, 3], strides: 2, pad: 1, dimRoundingMode: "round" }],
  ["filter = image", { x: [3, 5, 6, 2], filter: [5, 6, 2, 4], strides: 1, pad: "valid" }],
  ["patch embed 4×4 s4", { x: [2, 16, 16, 3], filter: [4, 4, 3, 32], strides: 4, pad: "valid" }],
];

function outShapeOf(c: Case): [number, number, number, number] {
  return tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad, "NHWC", 1, c.dimRoundingMode).shape);
}

function attrsOf(c: Case) {
  return { strides: c.strides, pad: c.pad, dataFormat: "NHWC", ...(c.dimRoundingMode === undefined ? {} : { dimRoundingMode: c.dimRoundingMode }) };
}

const backprop = {
  filter: (c: Case, seed: number) => () =>
    tf.engine().runKernel("Conv2DBackpropFilter", { x: randomTensor(c.x, seed), dy: randomTensor(outShapeOf(c), seed + 1) }, { ...attrsOf(c), filterShape: c.filter }) as tf.Tensor,
  input: (c: Case, seed: number) => () =>
    tf.engine().runKernel("Conv2DBackpropInput", { dy: randomTensor(outShapeOf(c), seed), filter: randomTensor(c.filter, seed + 1) }, { ...attrsOf(c), inputShape: c.x }) as tf.Tensor,
};

await setUpWasmGapKernels();

describe.each(["filter", "input"] as const)("conv2d's %s gradient kernel on wasm", (which) => {
  beforeAll(() => tf.setBackend("wasm"));

  it("is registered", () => expect(tf.getKernel(which === "filter" ? "Conv2DBackpropFilter" : "Conv2DBackpropInput", "wasm")).toBeDefined());

  it.each(cases)("matches cpu within 1e-4 relative: %s", async (_name, c) => {
    const before = tf.memory().numTensors;
    const { error, shape } = await wasmVsCpu(backprop[which](c, 11));
    expect(shape).toEqual(which === "filter" ? c.filter : c.x);
    expect(error).toBeLessThanOrEqual(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });

  /** The kernel called directly with a bound on its im2col block, in floats (1: one output row per block). */
  const blocked = (c: Case, budget: number) => () => {
    const backend = tf.engine().findBackend("wasm") as unknown as WasmBackend;
    const dy = randomTensor(outShapeOf(c), 6);
    const info =
      which === "filter"
        ? conv2dBackpropFilter(backend, randomTensor(c.x, 5), dy, { ...attrsOf(c), filterShape: c.filter } as never, budget)
        : conv2dBackpropInput(backend, dy, randomTensor(c.filter, 5), { ...attrsOf(c), inputShape: c.x } as never, budget);
    return tf.engine().makeTensorFromTensorInfo(info);
  };

  it("gives the same result whatever the block size (one output row, a few, all)", async () => {
    const c = cases[3]![1];
    const whole = await runOn("wasm", blocked(c, Infinity));
    for (const budget of [1, 200, 5000]) {
      const part = await runOn("wasm", blocked(c, budget));
      expect(relativeErrorOf(part.values, whole.values)).toBeLessThanOrEqual(1e-6);
    }
  });

  it("leaks no tensor and no heap buffer, in one block or many", async () => {
    expect(await leakOnWasm(backprop[which](cases[0]![1], 3))).toEqual({ tensors: 0, buffers: 0 });
    expect(await leakOnWasm(blocked(cases[2]![1], 100))).toEqual({ tensors: 0, buffers: 0 });
  });

  it("refuses NCHW with a clear message", () => {
    if (which === "input") return; // the override hands NCHW to wasm's own kernel
    const run = () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x: tf.zeros([1, 2, 5, 5]), dy: tf.zeros([1, 3, 5, 5]) }, { strides: 1, pad: "same", dataFormat: "NCHW", filterShape: [3, 3, 2, 3] });
    expect(() => tf.tidy(run)).toThrow("Conv2DBackpropFilter on wasm (@proj/tensor-kernels) supports dataFormat NHWC only, got NCHW");
  });
});

describe("conv2d gradients through tf.grads on wasm", () => {
  it("match cpu within 1e-4 for the weight and the input", async () => {
    const c = cases[2]![1];
    for (const i of [0, 1]) {
      const { error } = await wasmVsCpu(() => {
        const x = randomTensor(c.x, 21) as tf.Tensor4D;
        const w = randomTensor(c.filter, 22) as tf.Tensor4D;
        const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad))) as tf.Scalar;
        return tf.grads(loss)([x, w])[i]!;
      });
      expect(error).toBeLessThanOrEqual(1e-4);
    }
  });
});
