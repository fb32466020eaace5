import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { randomTensor } from "../../testing/backends.js";
import { registerWasmGapKernels, unregisterWasmGapKernels, WASM_GAP_KERNEL_CONFIGS } from "./gap-kernels.js";
import { relativeErrorOf, runOn, setUpWasmGapKernels, wasmVsCpu } from "./test-support.js";

await setUpWasmGapKernels();

const names = ["Conv2DBackpropFilter", "UnsortedSegmentSum", "BatchMatMul", "_FusedMatMul", "Conv2DBackpropInput"];

describe("registerWasmGapKernels", () => {
  it("lists every config for wasm", () => {
    expect(WASM_GAP_KERNEL_CONFIGS.map((c) => c.kernelName)).toEqual(names);
    expect(WASM_GAP_KERNEL_CONFIGS.every((c) => c.backendName === "wasm")).toBe(true);
  });

  it("installs every kernel, and a second call changes nothing (no double wrapping)", async () => {
    const first = WASM_GAP_KERNEL_CONFIGS.map((c) => tf.getKernel(c.kernelName, "wasm"));
    expect(first).toEqual([...WASM_GAP_KERNEL_CONFIGS]);
    const again = registerWasmGapKernels();
    expect(again).toEqual({ active: names, skipped: [] });
    expect(WASM_GAP_KERNEL_CONFIGS.map((c) => tf.getKernel(c.kernelName, "wasm"))).toEqual(first);
    // A wrapper that had saved itself as the original would recurse forever here.
    const { error } = await wasmVsCpu(() => tf.matMul(randomTensor([40, 30], 1), randomTensor([20, 30], 2), false, true));
    expect(error).toBeLessThanOrEqual(1e-5);
  });

  it("puts wasm's own kernels back and installs ours again", async () => {
    const before = WASM_GAP_KERNEL_CONFIGS.map((c) => tf.getKernel(c.kernelName, "wasm"));
    unregisterWasmGapKernels();
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeUndefined();
    expect(tf.getKernel("UnsortedSegmentSum", "wasm")).toBeUndefined();
    const own = tf.getKernel("BatchMatMul", "wasm");
    expect(own).toBeDefined();
    expect(WASM_GAP_KERNEL_CONFIGS).not.toContain(own);
    expect((await wasmVsCpu(() => tf.matMul(randomTensor([9, 7], 1), randomTensor([5, 7], 2), false, true))).error).toBeLessThanOrEqual(1e-5);
    expect(registerWasmGapKernels()).toEqual({ active: names, skipped: [] });
    expect(WASM_GAP_KERNEL_CONFIGS.map((c) => tf.getKernel(c.kernelName, "wasm"))).toEqual(before);
    expect((await wasmVsCpu(() => tf.matMul(randomTensor([9, 7], 1), randomTensor([5, 7], 2), false, true))).error).toBeLessThanOrEqual(1e-5);
  });
});

describe("inputs that still live on the cpu backend", () => {
  // tfjs moves an input to wasm on first access, which allocates and may grow (and detach) the wasm heap: each
  // kernel must move its inputs before it allocates or takes a heap view. The inputs are sized from the heap so
  // that moving them in must grow it.
  const heapBytes = () => (tf.engine().findBackend("wasm") as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const kernels: [string, (t: tf.Tensor[]) => tf.Tensor, (rows: number) => number[][]][] = [
    [
      "Conv2DBackpropFilter",
      ([x, dy]) => tf.engine().runKernel("Conv2DBackpropFilter", { x: x!, dy: dy! }, { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 16, 16] }) as tf.Tensor,
      (rows) => [[rows, 8, 8, 16], [rows, 8, 8, 16]],
    ],
    ["Conv2DBackpropInput", ([dy, w]) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [dy!.shape[0]!, 8, 8, 16], 1, "same"), (rows) => [[rows, 8, 8, 16], [3, 3, 16, 16]]],
    ["UnsortedSegmentSum", ([x]) => tf.unsortedSegmentSum(x!, tf.tensor1d(Int32Array.from({ length: x!.shape[0]! }, (_, i) => i % 100), "int32"), 100), (rows) => [[rows * 4, 256]]],
    ["BatchMatMul", ([a, b]) => tf.matMul(a!, b!, false, true), (rows) => [[rows * 32, 32], [64, 32]]],
  ];

  it.each(kernels)("%s moves them to wasm first", async (_name, run, shapesFor) => {
    await tf.setBackend("wasm");
    const before = heapBytes();
    const shapes = shapesFor(Math.ceil(before / (4 * 1024))); // each input ≥ the whole heap
    await tf.setBackend("cpu");
    const inputs = shapes.map((s, i) => randomTensor(s, i + 1));
    await tf.setBackend("wasm");
    const y = run(inputs);
    const actual = await y.data();
    expect(heapBytes()).toBeGreaterThan(before);
    tf.dispose([y, ...inputs]);
    const expected = await runOn("wasm", () => run(shapes.map((s, i) => randomTensor(s, i + 1))));
    expect(relativeErrorOf(actual, expected.values)).toBe(0);
  });
});
