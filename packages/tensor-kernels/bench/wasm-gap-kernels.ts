/**
 * Before/after throughput of the wasm gap kernels, in one process so that the ratios are comparable (the machines
 * are shared and noisy: compare columns of one run, not runs).
 *
 *   node --import tsx src/kernels/wasm/gap-kernels.bench.ts [--reps 7] [--sizes 512,1024] [--only matmul,conv,segment,budget]
 *
 * "before" is tfjs-backend-wasm's own kernel (or, where it has none, the cpu backend's, timed on one image of the
 * batch because it is so slow); "after" is with `registerWasmGapKernels()`. Each figure is the median of --reps
 * timed runs after one warm-up run.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { randomTensor } from "../src/testing/backends.js";
import { conv2dBackpropFilter } from "../src/kernels/wasm/conv2d-backprop-filter.js";
import { conv2dBackpropInput } from "../src/kernels/wasm/conv2d-backprop-input.js";
import { registerWasmGapKernels, unregisterWasmGapKernels } from "../src/kernels/wasm/gap-kernels.js";
import type { WasmBackend } from "../src/kernels/wasm/wasm-heap.js";

const { values: options } = parseArgs({
  options: {
    reps: { type: "string", default: "7" },
    sizes: { type: "string", default: "512" },
    only: { type: "string", default: "matmul,conv,segment,budget" },
  },
});
const reps = Number(options.reps);
const only = new Set(options.only.split(","));

/**
 * Median milliseconds of `run`, whose result is disposed unread: the wasm and cpu backends compute synchronously
 * inside the kernel call, and reading back (a copy) would add to memory-bound kernels with large outputs.
 */
function medianMs(run: () => tf.Tensor | tf.TensorInfo): number {
  const once = () => {
    const t0 = performance.now();
    const y = run();
    const ms = performance.now() - t0;
    if (y instanceof tf.Tensor) y.dispose();
    else tf.engine().backend.disposeData(y.dataId);
    return ms;
  };
  once();
  const times = Array.from({ length: reps }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const gflops = (flops: number, ms: number) => {
  const rate = flops / ms / 1e6;
  return (rate < 0.1 ? rate.toPrecision(2) : rate.toFixed(1)).padStart(6);
};
const row = (name: string, flops: number, before: number, after: number) =>
  console.log(`${name.padEnd(52)} ${gflops(flops, before)} → ${gflops(flops, after)} GFLOP/s  (${before.toFixed(1)} → ${after.toFixed(1)} ms, ×${(before / after).toFixed(1)})`);

/** Times `make` on wasm with wasm's own kernels, then with ours. */
function beforeAfter(name: string, flops: number, make: () => () => tf.Tensor): void {
  unregisterWasmGapKernels();
  const before = medianMs(make());
  registerWasmGapKernels();
  const after = medianMs(make());
  row(name, flops, before, after);
}

await tf.setBackend("cpu");
await tf.setBackend("wasm");
registerWasmGapKernels();
console.log(`tfjs ${tf.version.tfjs}, wasm SIMD ${String(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"))}, median of ${reps}`);

if (only.has("matmul")) {
  console.log("\n# matMul on wasm: its own kernel → transposes materialised / batch folded");
  for (const n of options.sizes.split(",").map(Number)) {
    const a = randomTensor([n, n], 1);
    const b = randomTensor([n, n], 2);
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      beforeAfter(`${n}×${n}×${n} transposeA=${ta} transposeB=${tb}`, 2 * n ** 3, () => () => tf.matMul(a, b, ta, tb));
    }
    tf.dispose([a, b]);
  }
  const x = randomTensor([64, 50, 512], 3);
  const w = randomTensor([512, 512], 4);
  beforeAfter("dense [64, 50, 512] × [512, 512] (batch folded)", 2 * 64 * 50 * 512 * 512, () => () => tf.matMul(x, w));
  beforeAfter("dense [64, 50, 512] × [512, 512]ᵀ", 2 * 64 * 50 * 512 * 512, () => () => tf.matMul(x, w, false, true));
  beforeAfter("dense weight grad xᵀ·dy [3200, 512]ᵀ × [3200, 512]", 2 * 3200 * 512 * 512, () => () =>
    tf.matMul(x.reshape([3200, 512]), x.reshape([3200, 512]), true, false));
  const q = randomTensor([96, 50, 64], 5);
  const k = randomTensor([96, 50, 64], 6);
  beforeAfter("attention QKᵀ, batch 96 of [50, 64] × [50, 64]ᵀ", 2 * 96 * 50 * 50 * 64, () => () => tf.matMul(q, k, false, true));
  const p = randomTensor([96, 50, 50], 7);
  beforeAfter("attention PV, batch 96 of [50, 50] × [50, 64]", 2 * 96 * 50 * 50 * 64, () => () => tf.matMul(p, q));
  tf.dispose([x, w, q, k, p]);
}

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number;
  pad: "same" | "valid";
}

const convCases: ConvCase[] = [
  { name: "3×3 s1 same, [16, 32, 32, 32] → 64", x: [16, 32, 32, 32], filter: [3, 3, 32, 64], strides: 1, pad: "same" },
  { name: "3×3 s2 same, [16, 32, 32, 64] → 64", x: [16, 32, 32, 64], filter: [3, 3, 64, 64], strides: 2, pad: "same" },
  { name: "1×1, [16, 16, 16, 128] → 128", x: [16, 16, 16, 128], filter: [1, 1, 128, 128], strides: 1, pad: "valid" },
  { name: "patch 4×4 s4, [64, 32, 32, 3] → 128", x: [64, 32, 32, 3], filter: [4, 4, 3, 128], strides: 4, pad: "valid" },
];

const convFlops = (c: ConvCase, outShape: number[]) => 2 * outShape.slice(0, 3).reduce((s, d) => s * d, 1) * c.filter.reduce((s, d) => s * d, 1);

if (only.has("conv")) {
  console.log("\n# conv2d gradients on wasm");
  for (const c of convCases) {
    const x = randomTensor(c.x, 1) as tf.Tensor4D;
    const w = randomTensor(c.filter, 2) as tf.Tensor4D;
    const y = tf.conv2d(x, w, c.strides, c.pad);
    const dy = randomTensor(y.shape, 3) as tf.Tensor4D;
    const flops = convFlops(c, y.shape);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC" };
    const forward = medianMs(() => tf.conv2d(x, w, c.strides, c.pad));
    console.log(`${c.name}: forward conv2d (XNNPACK) ${gflops(flops, forward)} GFLOP/s`);
    const filterGrad = (xs: tf.Tensor, dys: tf.Tensor) => () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x: xs, dy: dys }, { ...attrs, filterShape: c.filter }) as tf.Tensor;
    await tf.setBackend("cpu");
    const [x1, dy1] = [tf.slice(x, 0, 1), tf.slice(dy, 0, 1)]; // one image: the cpu kernel runs at ~5 MFLOP/s
    const cpu = medianMs(filterGrad(x1, dy1)) * c.x[0];
    tf.dispose([x1, dy1]);
    await tf.setBackend("wasm");
    row(`  weight grad: cpu backend (wasm has none) → ours`, flops, cpu, medianMs(filterGrad(x, dy)));
    beforeAfter(`  input grad: wasm's own → ours`, flops, () => () => tf.conv2dTranspose(dy, w, c.x, c.strides, c.pad));
    tf.dispose([x, w, y, dy]);
  }
}

if (only.has("budget")) {
  console.log("\n# im2col block budget (floats) for the conv gradients, 3×3 s1 same [32, 32, 32, 32] → 64");
  const c = { x: [32, 32, 32, 32], filter: [3, 3, 32, 64] } as const;
  const x = randomTensor(c.x.slice(), 1);
  const dy = randomTensor([32, 32, 32, 64], 2);
  const w = randomTensor(c.filter.slice(), 3);
  const flops = 2 * 32 * 32 * 32 * 64 * 9 * 32;
  const backend = tf.engine().findBackend("wasm") as unknown as WasmBackend;
  const attrs = { strides: 1, pad: "same", dataFormat: "NHWC" } as const;
  for (const budget of [1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 22, Infinity]) {
    const f = medianMs(() => conv2dBackpropFilter(backend, x, dy, { ...attrs, filterShape: [3, 3, 32, 64] }, budget));
    const i = medianMs(() => conv2dBackpropInput(backend, dy, w, { ...attrs, inputShape: [32, 32, 32, 32] }, budget));
    console.log(`budget ${String(budget).padStart(8)}: weight grad ${gflops(flops, f)}, input grad ${gflops(flops, i)} GFLOP/s`);
  }
  tf.dispose([x, dy, w]);
}

if (only.has("segment")) {
  console.log("\n# UnsortedSegmentSum (embedding gradient): cpu backend (wasm has none) → ours");
  console.log("  (memory-bound: GB/s counts x read plus the dense [segments, width] output zeroed and written)");
  for (const [rows, width, vocab, cpuToo] of [[64 * 77, 512, 49408, false], [2048, 64, 100, true]] as const) {
    const x = randomTensor([rows, width], 1);
    const ids = tf.tensor1d(Int32Array.from({ length: rows }, (_, i) => (i * 7919) % vocab), "int32");
    const run = () => tf.unsortedSegmentSum(x, ids, vocab);
    const after = medianMs(run);
    await tf.setBackend("cpu"); // its kernel is one masked sum per segment: only small vocabularies
    const before = cpuToo ? medianMs(run) : NaN;
    await tf.setBackend("wasm");
    const gbs = (ms: number) => (((rows + vocab) * width * 4) / ms / 1e6).toFixed(2);
    console.log(`[${rows}, ${width}] into ${vocab} segments: ${gbs(before)} → ${gbs(after)} GB/s (${before.toFixed(1)} → ${after.toFixed(1)} ms)`);
    tf.dispose([x, ids]);
  }
}
