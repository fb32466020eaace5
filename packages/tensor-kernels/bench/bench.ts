/**
 * npm run bench -w @proj/tensor-kernels [-- --backends native,wasm,webgpu,cpu --runs 7 --quick --sections gemm,ops]
 *                                        [-- --only vit,text --batches 1,8]
 *
 * Section `gemm` (when the native addon is built): fp32 GEMM GFLOP/s at n = 256, 512, 1024 for every transpose
 * variant, `tf.matMul` on the `native` backend with 1 and 2 threads and on `wasm` (with our register entry's
 * transposed-matmul kernels), interleaved so that load from other processes hits all three alike, beside this
 * machine's fp32 FMA peak measured by a tiny native loop (one thread, register-only FMAs, the ISA in use).
 * Before timing, each native variant is checked against the cpu backend.
 *
 * Section `train` (when the native addon is built): one SGD step (forward, tf.grads, update) of a small conv net
 * in the style of the unCLIP U-Net — 3×3 convs with groupNorm+SiLU at 32×32 and 16×16, self-attention over the
 * 16×16 tokens, a linear head — on `native` and on `wasm`, interleaved; ms per step and the speed-up. (The unCLIP
 * small preset itself lives in @proj/unclip, which this package cannot import.)
 *
 * Section `models` (rows `vit`, `text`): random-weight CLIP ViT-B/32 image and text encoders built from our ops
 * (bench/encoders.ts), images/s and texts/s at batch 1 and 8 (`--batches`) on native 1 thread, native 2 threads and
 * wasm, and on the peer, onnxruntime-node (CPU EP, graph optimisation all, 1 and 2 intra-op threads), measured in the
 * same run: bench/onnx-encoders.ts writes the same weights and op sequence as an in-memory ONNX model. All are
 * interleaved per sample and their features checked against each other (≤ 1e-3) first. Without onnxruntime-node
 * (it failed to load) the section still runs and the footnote says why. `--profile` also prints the op types of
 * onnxruntime's optimised graph.
 *
 * Section `grads` (rows `attention-grad`, `linear-grad`, native only): the gradient through the fused native
 * kernels (ProjAttentionGrad, ProjActivationGrad) against the same gradient with those kernels unregistered (the
 * tfjs composition the native backend ran before), interleaved, at 1 and 2 threads.
 *
 * `--only vit,text,…` runs just those rows (and no other section).
 *
 * Section `ops`:
 * per op, backend and shape: median time of the fused op and of the plain tfjs composition measured in the same
 * run, achieved GB/s (memory-bound ops) or GFLOP/s (matmul-like ops), and the ratio composition/fused (> 1 means
 * the fused kernel is faster). Shapes are CLIP ViT-B/32 (B=8, T=50, width 768, 12 heads), CLIP text (T=77,
 * width 512, 8 heads) and the unCLIP decoder (32×32 and 64×64 feature maps, 128–256 channels).
 * The webgpu backend here is SwiftShader (a CPU emulation): its timings check that the kernels run, not speed.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type * as Ort from "onnxruntime-node";
import * as tf from "@tensorflow/tfjs";
import { registerWasmGapKernels } from "../src/register.js";
import * as kernels from "../src/index.js";
import { initBackends, randomTensor, relativeError, relativeErrorOf } from "../src/testing/backends.js";
import { measureFmaPeak, nativeAvailable, nativeGemm, nativeIsa, nativeThreads, nativeUnavailableReason, setNativeThreads } from "../src/native/index.js";
import { AttentionGrad, MaskedAttentionGrad } from "../src/ops/attention-grad.js";
import { ActivationGrad } from "../src/ops/linear-grad.js";
import { makeEncoder, type Encoder } from "./encoders.js";
import { encoderModel, ONNX_INPUT, ONNX_OUTPUT, opTypeCounts } from "./onnx-encoders.js";

const { values } = parseArgs({
  options: {
    /** Default: native,wasm,webgpu (native,wasm with --only). */
    backends: { type: "string" },
    sections: { type: "string", default: "gemm,train,models,grads,ops" },
    "gemm-sizes": { type: "string", default: "256,512,1024" },
    runs: { type: "string", default: "7" },
    quick: { type: "boolean", default: false },
    /** Print the kernels that dominate the native training step (train) and batch 1 of each encoder (models). */
    profile: { type: "boolean", default: false },
    /** Calls per timing sample on webgpu (one readback per sample). */
    reps: { type: "string", default: "20" },
    /** Rows of the models and grads sections to run alone: vit, text, attention-grad, linear-grad. */
    only: { type: "string" },
    /** Batch sizes of the models section. */
    batches: { type: "string", default: "1,8" },
  },
});
const ROWS: Record<string, string> = { vit: "models", text: "models", "attention-grad": "grads", "linear-grad": "grads" };
const only = values.only?.split(",");
for (const row of only ?? []) if (ROWS[row] === undefined) throw new Error(`--only: unknown row ${row} (one of ${Object.keys(ROWS).join(", ")})`);
const wantRow = (row: string) => only === undefined || only.includes(row);
const runs = Number(values.runs);
const quick = values.quick;

interface Case {
  op: string;
  shape: string;
  /** Builds the inputs; returns the fused and the composed computation. */
  make: () => { inputs: tf.Tensor[]; fused: () => tf.Tensor; composed: () => tf.Tensor };
  /** Bytes moved (for GB/s) or floating-point operations (for GFLOP/s). */
  work: { bytes?: number; flops?: number };
}

const f32 = 4;
const cases: Case[] = [];

function addLayerNorm(rows: number, c: number, label: string): void {
  cases.push({
    op: "layerNorm",
    shape: `${label} [${rows}, ${c}]`,
    work: { bytes: 2 * rows * c * f32 },
    make: () => {
      const x = randomTensor([rows, c], 1);
      const g = randomTensor([c], 2, 1, 1);
      const b = randomTensor([c], 3);
      return { inputs: [x, g, b], fused: () => kernels.layerNorm(x, g, b, { epsilon: 1e-5 }), composed: () => kernels.layerNormReference(x, g, b, 1e-5) };
    },
  });
}
addLayerNorm(8 * 50, 768, "ViT-B/32");
addLayerNorm(8 * 77, 512, "text");

// Ops that other modules add (groupNorm, attention, linear) register their cases when present.
const api = kernels as unknown as Record<string, (...args: never[]) => tf.Tensor>;
if (typeof api.groupNorm === "function" && typeof api.groupNormReference === "function") {
  const groupNorm = api.groupNorm as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, o: object) => tf.Tensor;
  const groupNormReference = api.groupNormReference as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, o: object) => tf.Tensor;
  for (const [n, hw, c] of [[4, 32, 128], [2, 64, 128], [2, 32, 256]] as const) {
    cases.push({
      op: "groupNorm+silu",
      shape: `unCLIP [${n}, ${hw}, ${hw}, ${c}] g32`,
      work: { bytes: 2 * n * hw * hw * c * f32 },
      make: () => {
        const x = randomTensor([n, hw, hw, c], 4);
        const g = randomTensor([c], 5, 1, 1);
        const b = randomTensor([c], 6);
        const o = { groups: 32, epsilon: 1e-5, activation: "silu" };
        return { inputs: [x, g, b], fused: () => groupNorm(x, g, b, o), composed: () => groupNormReference(x, g, b, o) };
      },
    });
  }
}
if (typeof api.attention === "function" && typeof api.attentionReference === "function") {
  const attention = api.attention as unknown as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, o: object) => tf.Tensor;
  const attentionReference = api.attentionReference as unknown as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, o: object) => tf.Tensor;
  for (const [b, h, t, d, causal, label] of [[8, 12, 50, 64, false, "ViT-B/32"], [8, 8, 77, 64, true, "text causal"], [2, 4, 256, 64, false, "unCLIP 16×16"]] as const) {
    cases.push({
      op: "attention",
      shape: `${label} [${b}, ${h}, ${t}, ${d}]`,
      work: { flops: 4 * b * h * t * t * d },
      make: () => {
        const q = randomTensor([b, h, t, d], 7);
        const k = randomTensor([b, h, t, d], 8);
        const v = randomTensor([b, h, t, d], 9);
        return { inputs: [q, k, v], fused: () => attention(q, k, v, { causal }), composed: () => attentionReference(q, k, v, { causal }) };
      },
    });
  }
}
if (typeof api.linear === "function" && typeof api.linearReference === "function") {
  const linear = api.linear as unknown as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, o: object) => tf.Tensor;
  const linearReference = api.linearReference as unknown as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, activation: string) => tf.Tensor;
  for (const [m, k, n, act, label] of [[8 * 50, 768, 3072, "quickGelu", "ViT-B/32 c_fc"], [8 * 77, 512, 2048, "quickGelu", "text c_fc"], [2 * 1024, 128, 128, "silu", "unCLIP 32×32"]] as const) {
    cases.push({
      op: `linear+${act}`,
      shape: `${label} [${m}, ${k}]×[${k}, ${n}]`,
      work: { flops: 2 * m * k * n },
      make: () => {
        const x = randomTensor([m, k], 10);
        const w = randomTensor([k, n], 11, 0.05);
        const b = randomTensor([n], 12);
        const o = { activation: act };
        return { inputs: [x, w, b], fused: () => linear(x, w, b, o), composed: () => linearReference(x, w, b, act) };
      },
    });
  }
}

/**
 * Median ms per call of `a` and of `b` over `n` samples each after two warm-ups (shader compilation, caches),
 * interleaved (a, b, a, b, …) so that load from other processes hits both alike. A sample runs the op `reps` times
 * and waits for the last result once, so on a GPU the queue stays full and one readback's latency is spread over
 * `reps` calls (on wasm/cpu, `reps` = 1: they compute synchronously).
 */
async function timePair(a: () => tf.Tensor, b: () => tf.Tensor, n: number, reps: number): Promise<[number, number]> {
  const sample = async (fn: () => tf.Tensor) => {
    const t0 = performance.now();
    for (let r = 1; r < reps; r++) fn().dispose();
    const y = fn();
    await y.data();
    const dt = (performance.now() - t0) / reps;
    y.dispose();
    return dt;
  };
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < n + 2; i++) {
    const ta = await sample(a);
    const tb = await sample(b);
    if (i >= 2) {
      times[0].push(ta);
      times[1].push(tb);
    }
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  return [median(times[0]), median(times[1])];
}

const sections = only !== undefined ? [...new Set(only.map((row) => ROWS[row]!))] : values.sections!.split(",");
const wanted = await initBackends((values.backends ?? (only !== undefined ? "native,wasm" : "native,wasm,webgpu")).split(","));
registerWasmGapKernels(); // wasm is loaded now: its transposed-matmul and conv-gradient replacements (as setupBackend does)

/**
 * GEMM GFLOP/s: native 1 thread, native 2 threads and wasm, interleaved per sample; median of `runs`. Prints its
 * own table (and returns nothing): the FMA peak line first.
 */
async function gemmSection(): Promise<void> {
  if (!nativeAvailable) {
    console.log(`GEMM section skipped: ${nativeUnavailableReason()}`);
    return;
  }
  const defaultThreads = nativeThreads();
  const isa = nativeIsa().current;
  const peak = measureFmaPeak(0.5);
  const sizes = values["gemm-sizes"]!.split(",").map(Number);
  const variants = [[false, false, "A·B"], [false, true, "A·Bᵀ"], [true, false, "Aᵀ·B"], [true, true, "Aᵀ·Bᵀ"]] as const;
  const configs = [
    { label: "native 1T", backend: "native", threads: 1 },
    { label: "native 2T", backend: "native", threads: 2 },
    { label: "wasm", backend: "wasm", threads: 0 },
  ];
  const table: string[][] = [["n", "product", "kernel 1T GFLOP/s", "kernel 1T / peak", ...configs.map((c) => `${c.label} GFLOP/s`), "native 1T best", "native 1T / peak", "native 2T / (2·peak)", "native 2T / wasm"]];
  const n = quick ? Math.min(runs, 3) : runs;
  for (const size of sizes) {
    const flops = 2 * size ** 3;
    for (const [ta, tb, label] of variants) {
      const a = randomTensor([size, size], 41);
      const b = randomTensor([size, size], 42);
      // Check first: native against cpu (the same product), then time.
      await tf.setBackend("native");
      const got = tf.matMul(a, b, ta, tb);
      await tf.setBackend("cpu");
      const want = tf.matMul(a, b, ta, tb);
      const error = await relativeError(got, want);
      tf.dispose([got, want]);
      if (!(error <= 1e-5)) throw new Error(`native matMul n=${size} ${label}: relative error ${error} vs cpu`);
      // The kernel alone: the addon's GEMM on a buffer of its own, one thread (no tfjs, no allocation, no read-back).
      const memory = new ArrayBuffer(12 * size * size);
      new Float32Array(memory, 0, 2 * size * size).set([...(await a.data()), ...(await b.data())]);
      const kernelCall = { a: 0, b: 4 * size * size, c: 8 * size * size, m: size, n: size, k: size, transA: ta, transB: tb };
      const kernelSamples: number[] = [];
      const samples: number[][] = configs.map(() => []);
      // Back-to-back calls per kernel sample (≥ ~0.2 GFLOP, so a small product is not timed cold after the other
      // backends' runs have evicted its operands); the sample is their mean.
      const kernelReps = Math.max(1, Math.round(2e8 / flops));
      for (let i = 0; i < n + 2; i++) {
        setNativeThreads(1);
        const k0 = performance.now();
        for (let r = 0; r < kernelReps; r++) nativeGemm(memory, kernelCall);
        if (i >= 2) kernelSamples.push((performance.now() - k0) / kernelReps);
        for (const [j, c] of configs.entries()) {
          await tf.setBackend(c.backend);
          if (c.threads > 0) setNativeThreads(c.threads);
          const t0 = performance.now();
          const y = tf.matMul(a, b, ta, tb);
          y.dataSync();
          const dt = performance.now() - t0;
          y.dispose();
          if (i >= 2) samples[j]!.push(dt);
        }
      }
      tf.dispose([a, b]);
      const rates = samples.map((xs) => flops / xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]! / 1e6);
      const [one, two, wasm] = rates as [number, number, number];
      const oneBest = flops / samples[0]![0]! / 1e6; // sorted above
      const kernel = flops / kernelSamples.sort((x, y) => x - y)[Math.floor(kernelSamples.length / 2)]! / 1e6;
      table.push([String(size), label, kernel.toFixed(1), `${((100 * kernel) / peak).toFixed(0)}%`, ...rates.map((r) => r.toFixed(1)), oneBest.toFixed(1), `${((100 * one) / peak).toFixed(0)}%`, `${((100 * two) / (2 * peak)).toFixed(0)}%`, `${(two / wasm).toFixed(1)}×`]);
      console.error(`  gemm n=${size} ${label}: ${rates.map((r) => r.toFixed(1)).join(" / ")} GFLOP/s`);
    }
  }
  setNativeThreads(defaultThreads);
  console.log(`fp32 FMA peak, measured (1 thread, ${isa}, register-only loop): ${peak.toFixed(1)} GFLOP/s per core, ${(2 * peak).toFixed(1)} for 2 cores`);
  printTable(table);
  console.log(`\nGEMM: kernel = the addon's GEMM called directly on a buffer (one thread; median of samples, each the mean of back-to-back calls, ≥ 0.2 GFLOP); the other columns tf.matMul [n, n]·[n, n] incl. the read-back, median of ${n} interleaved runs after 2 warm-ups (best: the fastest run, comparable to the peak, which is a best-of loop); each native product checked against cpu (≤ 1e-5) first. wasm includes @proj/tensor-kernels/register's transposed-matmul kernels.\n`);
}

function printTable(table: string[][]): void {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(table[0]!));
  console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
  for (const r of table.slice(1)) console.log(line(r));
}

/** ms per training step of the small conv net on native and wasm (interleaved), and the speed-up. */
async function trainSection(): Promise<void> {
  if (!nativeAvailable) return;
  const batch = 16;
  const make = () => ({
    x: randomTensor([batch, 32, 32, 3], 51),
    target: randomTensor([batch, 10], 52),
    params: [
      randomTensor([3, 3, 3, 32], 53, 0.3), // conv in
      randomTensor([32], 54, 0.1, 1), randomTensor([32], 55, 0.1), // groupNorm 1
      randomTensor([3, 3, 32, 64], 56, 0.06), // conv down (stride 2)
      randomTensor([64], 57, 0.1, 1), randomTensor([64], 58, 0.1), // groupNorm 2
      randomTensor([64, 192], 59, 0.1), // q|k|v
      randomTensor([64, 64], 60, 0.1), // attention out
      randomTensor([64, 10], 61, 0.1), randomTensor([10], 62, 0.1), // head
    ],
  });
  const step = (x: tf.Tensor, target: tf.Tensor, params: tf.Tensor[]) =>
    tf.tidy(() => {
      const loss = (...p: tf.Tensor[]) => {
        const [w1, g1, b1, w2, g2, b2, wqkv, wo, wh, bh] = p as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.Tensor4D, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        let h = kernels.groupNorm(tf.conv2d(x as tf.Tensor4D, w1, 1, "same"), g1, b1, { groups: 8, activation: "silu" }); // [B, 32, 32, 32]
        h = kernels.groupNorm(tf.conv2d(h as tf.Tensor4D, w2, 2, "same"), g2, b2, { groups: 8, activation: "silu" }); // [B, 16, 16, 64]
        const tokens = tf.reshape(h, [batch, 256, 64]);
        // 4 heads of 16; rank ≤ 4 throughout (wasm's rank-5 Slice and Transpose are slow).
        const [q, k, v] = tf.split(kernels.linear(tokens, wqkv), 3, 2).map((t) => tf.transpose(tf.reshape(t, [batch, 256, 4, 16]), [0, 2, 1, 3]));
        const a = tf.reshape(tf.transpose(kernels.attention(q!, k!, v!), [0, 2, 1, 3]), [batch, 256, 64]);
        const pooled = tf.mean(tf.add(tokens, kernels.linear(a, wo)), 1); // [B, 64]
        return tf.mean(tf.square(tf.sub(kernels.linear(pooled, wh, bh), target))) as tf.Scalar;
      };
      const grads = tf.grads(loss)(params);
      return params.map((p, i) => tf.sub(p, tf.mul(grads[i]!, 0.01)));
    });
  const n = quick ? Math.min(runs, 3) : runs;
  const names = ["native", "wasm"];
  const state = new Map<string, ReturnType<typeof make>>();
  for (const name of names) {
    await tf.setBackend(name);
    state.set(name, make());
  }
  const samples: number[][] = names.map(() => []);
  for (let i = 0; i < n + 1; i++) {
    for (const [j, name] of names.entries()) {
      await tf.setBackend(name);
      const s = state.get(name)!;
      const t0 = performance.now();
      const next = step(s.x, s.target, s.params);
      next[0]!.dataSync();
      const dt = performance.now() - t0;
      tf.dispose(s.params);
      s.params = next;
      if (i >= 1) samples[j]!.push(dt);
    }
  }
  for (const name of names) {
    await tf.setBackend(name);
    const s = state.get(name)!;
    tf.dispose([s.x, s.target, ...s.params]);
  }
  if (values.profile) {
    await tf.setBackend("native");
    const s = make();
    const info = await tf.profile(() => tf.dispose(step(s.x, s.target, s.params)));
    const byKernel = new Map<string, number>();
    for (const k of info.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    const top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 12);
    console.log(`native training step, kernels by time: ${top.map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(", ")}`);
    tf.dispose([s.x, s.target, ...s.params]);
  }
  const [nativeMs, wasmMs] = samples.map((xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!) as [number, number];
  printTable([
    ["training step (batch 16, 32×32 conv net + attention)", "native ms", "wasm ms", "speed-up"],
    ["SGD step: forward, tf.grads, update", nativeMs.toFixed(1), wasmMs.toFixed(1), `${(wasmMs / nativeMs).toFixed(2)}×`],
  ]);
  console.log(`\ntraining: median of ${n} interleaved steps after 1 warm-up; native with ${nativeThreads()} threads.\n`);
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** onnxruntime-node's session settings in the models section (intraOpNumThreads is set per session: 1 and 2). */
const ORT_SESSION_OPTIONS: Ort.InferenceSession.SessionOptions = {
  executionProviders: ["cpu"],
  interOpNumThreads: 1,
  graphOptimizationLevel: "all",
  executionMode: "sequential",
};
const ORT_THREADS = [1, 2] as const;
/** Idle time before each timed sample of the models section (lets other configurations' worker threads go to sleep). */
const SETTLE_MS = 50;

/** onnxruntime-node, loaded on demand: the section runs without it (a missing or broken install) and says why. */
async function loadOnnxruntime(): Promise<{ ort: typeof Ort } | { reason: string }> {
  try {
    return { ort: await import("onnxruntime-node") };
  } catch (error) {
    return { reason: `onnxruntime-node failed to load (${String((error as Error).message ?? error).split("\n")[0]})` };
  }
}

/**
 * onnxruntime's graph after its optimisations (graph optimisation all) for one encoder: ops by count. onnxruntime
 * writes it only to a file, so it goes to a temporary folder that is removed afterwards.
 */
async function optimizedOpCounts(ort: typeof Ort, model: Uint8Array): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "proj-ort-"));
  try {
    const path = join(folder, "optimized.onnx");
    const session = await ort.InferenceSession.create(model, { ...ORT_SESSION_OPTIONS, intraOpNumThreads: 1, optimizedModelFilePath: path, logSeverityLevel: 3 });
    await session.release();
    return [...opTypeCounts(await readFile(path))].sort((a, b) => b[1] - a[1]).map(([op, count]) => `${op} ${count}`).join(", ");
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * images/s and texts/s of the random-weight encoders on native 1T, native 2T and wasm, and of onnxruntime-node with
 * 1 and 2 intra-op threads running the same weights (as an ONNX model from bench/onnx-encoders.ts), all interleaved
 * per sample.
 */
async function modelsSection(): Promise<void> {
  const configs = [
    ...(wanted.includes("native") && nativeAvailable ? [{ label: "native 1T", backend: "native", threads: 1 }, { label: "native 2T", backend: "native", threads: 2 }] : []),
    ...(wanted.includes("wasm") ? [{ label: "wasm", backend: "wasm", threads: 0 }] : []),
  ];
  const loaded = await loadOnnxruntime();
  const ort = "ort" in loaded ? loaded.ort : undefined;
  const ortNotes = "reason" in loaded ? [loaded.reason] : [];
  const ortLabels = ort !== undefined ? ORT_THREADS.map((t) => `onnxruntime ${t}T`) : [];
  const columns = [...configs.map((c) => c.label), ...ortLabels];
  const batches = values.batches!.split(",").map(Number);
  const n = quick ? Math.min(runs, 3) : runs;
  const defaultThreads = nativeAvailable ? nativeThreads() : 1;
  const table: string[][] = [["encoder", "batch", ...columns, "native 1T / wasm", "native 2T / wasm", "native 1T / ort 1T", "native 2T / ort 2T", "native 1T GFLOP/s", "ort 1T GFLOP/s"]];
  let worstOrtError = 0;
  let ortMeasured = false;
  for (const kind of ["vit", "text"] as const) {
    if (!wantRow(kind)) continue;
    const encoders = new Map<string, Encoder>();
    for (const backend of new Set(configs.map((c) => c.backend))) {
      await tf.setBackend(backend);
      encoders.set(backend, makeEncoder(kind === "vit" ? "image" : "text"));
    }
    const [reference, referenceEncoder] = [...encoders][0] ?? [];
    // onnxruntime: the reference encoder's weights, read back, as an ONNX model; one session per thread count.
    const sessions = new Map<string, Ort.InferenceSession>();
    if (ort !== undefined && referenceEncoder !== undefined) {
      let model: Uint8Array | undefined;
      try {
        model = encoderModel(referenceEncoder);
        for (const threads of ORT_THREADS) sessions.set(`onnxruntime ${threads}T`, await ort.InferenceSession.create(model, { ...ORT_SESSION_OPTIONS, intraOpNumThreads: threads }));
        ortMeasured = true;
      } catch (error) {
        for (const session of sessions.values()) await session.release();
        sessions.clear();
        ortNotes.push(`the ${kind} model failed on onnxruntime-node (${String((error as Error).message ?? error).split("\n")[0]})`);
      }
      if (values.profile && model !== undefined && sessions.size > 0) console.log(`${kind} on onnxruntime, ops after its graph optimisations: ${await optimizedOpCounts(ort, model)}`);
    }
    for (const batch of batches) {
      const inputs = new Map<string, tf.Tensor>();
      for (const backend of encoders.keys()) {
        await tf.setBackend(backend);
        inputs.set(backend, encoders.get(backend)!.input(batch));
      }
      const referenceInput = inputs.get(reference!);
      const feeds =
        ort !== undefined && referenceInput !== undefined
          ? { [ONNX_INPUT[referenceEncoder!.kind]]: new ort.Tensor(kind === "vit" ? "float32" : "int32", (await referenceInput.data()) as Float32Array | Int32Array, referenceInput.shape) }
          : {};
      // Check first: every backend's and session's features against the reference backend's (same weights and inputs).
      const outputs = new Map<string, Float32Array>();
      for (const [backend, encoder] of encoders) {
        await tf.setBackend(backend);
        const y = encoder.forward(inputs.get(backend)!);
        outputs.set(backend, (await y.data()) as Float32Array);
        y.dispose();
      }
      for (const [label, session] of sessions) outputs.set(label, (await session.run(feeds))[ONNX_OUTPUT]!.data as Float32Array);
      for (const [label, out] of [...outputs].slice(1)) {
        const error = relativeErrorOf(out, outputs.get(reference!)!);
        if (!(error <= 1e-3)) throw new Error(`${kind} batch ${batch}: ${label} disagrees with ${reference} (relative error ${error})`);
        if (sessions.has(label)) worstOrtError = Math.max(worstOrtError, error);
      }
      const timed = [
        ...configs.map((c) => ({
          label: c.label,
          enter: async () => {
            await tf.setBackend(c.backend);
            if (c.threads > 0) setNativeThreads(c.threads);
          },
          run: async () => {
            const y = encoders.get(c.backend)!.forward(inputs.get(c.backend)!);
            y.dataSync();
            y.dispose();
          },
        })),
        ...[...sessions].map(([label, session]) => ({ label, enter: async () => {}, run: async () => void (await session.run(feeds)) })),
      ];
      const samples: number[][] = timed.map(() => []);
      for (let i = 0; i < n + 2; i++) {
        for (const [j, t] of timed.entries()) {
          await t.enter();
          // A pause before each sample: the previous configuration's idle workers (onnxruntime's spin for a while
          // after a run) must not compete with this one for the cores.
          await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
          const t0 = performance.now();
          await t.run();
          const dt = performance.now() - t0;
          if (i >= 2) samples[j]!.push(dt);
        }
      }
      tf.dispose([...inputs.values()]);
      const perSecond = new Map(timed.map((t, j) => [t.label, (1000 * batch) / median(samples[j]!)]));
      const one = perSecond.get("native 1T"), two = perSecond.get("native 2T"), wasm = perSecond.get("wasm");
      const ortOne = perSecond.get("onnxruntime 1T"), ortTwo = perSecond.get("onnxruntime 2T");
      const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}×` : "—");
      const gflops = (rate: number | undefined) => (rate !== undefined ? ((rate * referenceEncoder!.flopsPerSample) / 1e9).toFixed(1) : "—");
      table.push([
        kind === "vit" ? "ViT-B/32 image encoder (images/s)" : "text encoder, 77 tokens causal (texts/s)",
        String(batch),
        ...columns.map((label) => perSecond.get(label)?.toFixed(2) ?? "—"),
        ratio(one, wasm),
        ratio(two, wasm),
        ratio(one, ortOne),
        ratio(two, ortTwo),
        gflops(one),
        gflops(ortOne),
      ]);
      console.error(`  ${kind} batch ${batch}: ${[...perSecond].map(([label, r]) => `${label} ${r.toFixed(2)}`).join(" / ")} per s`);
    }
    if (values.profile && encoders.has("native")) {
      // Where each batch spends its time on native, 1 thread: tf.profile over 3 forwards, kernels by total time.
      await tf.setBackend("native");
      setNativeThreads(1);
      const encoder = encoders.get("native")!;
      for (const batch of batches) {
        const input = encoder.input(batch);
        const byKernel = new Map<string, number>();
        let total = 0;
        for (let i = 0; i < 3; i++) {
          const info = await tf.profile(() => encoder.forward(input).dataSync());
          for (const k of info.kernels) {
            const key = `${k.name} [${k.inputShapes.map((s) => `[${s}]`).join(", ")}]`;
            byKernel.set(key, (byKernel.get(key) ?? 0) + (k.kernelTimeMs as number) / 3);
            total += (k.kernelTimeMs as number) / 3;
          }
        }
        const top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 10);
        console.log(`${kind} batch ${batch} on native 1T, kernel time ${total.toFixed(0)} ms per forward; top kernels:`);
        for (const [key, ms] of top) console.log(`  ${ms.toFixed(2).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${key}`);
        input.dispose();
      }
    }
    for (const session of sessions.values()) await session.release();
    for (const e of encoders.values()) e.dispose();
  }
  if (nativeAvailable) setNativeThreads(defaultThreads);
  printTable(table);
  const ortLines = [
    ...(ortMeasured
      ? [`onnxruntime-node ${ort?.env.versions.node} (CPU EP, graph optimisation all, sequential, 1 inter-op thread, 1 / 2 intra-op threads) runs the same weights as an ONNX opset-17 model that bench/onnx-encoders.ts writes in memory, in this process, interleaved with the tfjs backends; its features differ from ${configs[0]?.backend}'s by ≤ ${worstOrtError.toExponential(1)} (relative).`]
      : []),
    ...(ortNotes.length > 0 ? [`onnxruntime-node not measured: ${ortNotes.join("; ")}.`] : []),
  ];
  console.log(`
models: CLIP ViT-B/32-shaped encoders with random weights from our ops (bench/encoders.ts), samples/s = batch / median ms of ${n} interleaved runs after 2 warm-ups, read-back included; outputs of all backends checked to agree (≤ 1e-3) first.
${ortLines.join("\n")}
For context only, /work/shared/peers.md's onnxruntime-node 1.30 figures from other 2-vCPU VMs with AVX-512 (1T / 2T): ViT 18.7 / 30.0 images/s at batch 1 and 26.1 / 46.1 at batch 8, text 38.3 / 61.2 texts/s at batch 8.\n`);
}

/** Gradient timings with the fused native gradient kernels and with them unregistered (the composition). */
async function gradsSection(): Promise<void> {
  if (!(nativeAvailable && wanted.includes("native"))) {
    console.log(`grads section skipped: ${nativeUnavailableReason() ?? "native not among --backends"}`);
    return;
  }
  await tf.setBackend("native");
  const defaultThreads = nativeThreads();
  const n = quick ? Math.min(runs, 3) : runs;
  interface GradCase { row: string; label: string; kernels: string[]; make: () => { inputs: tf.Tensor[]; forward: () => tf.Tensor; grads: () => tf.Tensor[] } }
  const gradCases: GradCase[] = [];
  for (const [b, h, t, d, causal, label] of [[1, 12, 50, 64, false, "ViT-B/32 batch 1"], [8, 12, 50, 64, false, "ViT-B/32 batch 8"], [8, 8, 77, 64, true, "text batch 8, causal"], [2, 4, 256, 64, false, "unCLIP 16×16"]] as const) {
    gradCases.push({
      row: "attention-grad",
      label: `attention ${label} [${b}, ${h}, ${t}, ${d}]`,
      kernels: [AttentionGrad, MaskedAttentionGrad],
      make: () => {
        const [q, k, v, probe] = [71, 72, 73, 74].map((seed) => randomTensor([b, h, t, d], seed)) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const f = (qs: tf.Tensor, ks: tf.Tensor, vs: tf.Tensor) => tf.sum(tf.mul(kernels.attention(qs, ks, vs, { causal }), probe));
        return { inputs: [q, k, v, probe], forward: () => f(q, k, v), grads: () => tf.grads(f)([q, k, v]) };
      },
    });
  }
  for (const [m, k, nOut, act, label] of [[50, 768, 3072, "quickGelu", "ViT-B/32 c_fc batch 1"], [8 * 50, 768, 3072, "quickGelu", "ViT-B/32 c_fc batch 8"], [2 * 1024, 128, 128, "silu", "unCLIP 32×32"]] as const) {
    gradCases.push({
      row: "linear-grad",
      label: `linear+${act} ${label} [${m}, ${k}]×[${k}, ${nOut}]`,
      kernels: [ActivationGrad],
      make: () => {
        const x = randomTensor([m, k], 81);
        const w = randomTensor([k, nOut], 82, 0.05);
        const bias = randomTensor([nOut], 83);
        const probe = randomTensor([m, nOut], 84);
        const f = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(kernels.linear(xs, ws, bs, { activation: act }), probe));
        return { inputs: [x, w, bias, probe], forward: () => f(x, w, bias), grads: () => tf.grads(f)([x, w, bias]) };
      },
    });
  }
  const table: string[][] = [["case", "threads", "forward ms", "fwd+bwd fused ms", "fwd+bwd composed ms", "backward fused ms", "backward composed ms", "backward speed-up"]];
  for (const c of gradCases) {
    if (!wantRow(c.row)) continue;
    const saved = c.kernels.map((name) => tf.getKernel(name, "native")).filter((k) => k != null);
    if (saved.length === 0) {
      console.log(`${c.label}: skipped (the built addon lacks the kernel: npm run build:native)`);
      continue;
    }
    const setFused = (on: boolean) => {
      for (const config of saved) {
        const registered = tf.getKernel(config.kernelName, "native") != null;
        if (on && !registered) tf.registerKernel(config);
        if (!on && registered) tf.unregisterKernel(config.kernelName, "native");
      }
    };
    const { inputs, forward, grads } = c.make();
    for (const threads of [1, 2]) {
      setNativeThreads(threads);
      const runs3: [() => void, () => void, () => void] = [
        () => tf.tidy(forward).dataSync(),
        () => { setFused(true); tf.dispose(tf.tidy(() => { const g = grads(); g[0]!.dataSync(); return g; })); },
        () => { setFused(false); tf.dispose(tf.tidy(() => { const g = grads(); g[0]!.dataSync(); return g; })); setFused(true); },
      ];
      const samples: number[][] = [[], [], []];
      for (let i = 0; i < n + 2; i++) {
        for (const [j, run] of runs3.entries()) {
          const t0 = performance.now();
          run();
          if (i >= 2) samples[j]!.push(performance.now() - t0);
        }
      }
      const [fwd, fused, composed] = samples.map(median) as [number, number, number];
      const [bf, bc] = [fused - fwd, composed - fwd];
      table.push([c.label, String(threads), fwd.toFixed(2), fused.toFixed(2), composed.toFixed(2), bf.toFixed(2), bc.toFixed(2), `${(bc / bf).toFixed(2)}×`]);
      console.error(`  ${c.label} ${threads}T: fwd ${fwd.toFixed(2)} fused ${fused.toFixed(2)} composed ${composed.toFixed(2)} ms`);
    }
    setFused(true);
    tf.dispose(inputs);
  }
  setNativeThreads(defaultThreads);
  printTable(table);
  console.log(`\ngrads: tf.grads of sum(op(…) ⊙ probe) on native, median of ${n} interleaved runs after 2 warm-ups; "composed" unregisters the fused gradient kernel (the tfjs ops of linear-grad.ts / attention-grad.ts, as before); backward = fwd+bwd − forward (the grads include a forward).\n`);
}

if (sections.includes("gemm") && wanted.includes("native") && wanted.includes("wasm")) await gemmSection();
if (sections.includes("train") && wanted.includes("native") && wanted.includes("wasm")) await trainSection();
if (sections.includes("models")) await modelsSection();
if (sections.includes("grads")) await gradsSection();
if (!sections.includes("ops")) process.exit(0);

const adapterInfo = wanted.includes("webgpu")
  ? ((await (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu?.requestAdapter())?.info ?? undefined)
  : undefined;
// SwiftShader emulates the GPU on the CPU (a ViT-sized matmul takes seconds): time it briefly, as a smoke run.
const emulated = adapterInfo?.architecture === "swiftshader";
const rows: string[][] = [["op", "backend", "shape", "fused ms", "composition ms", "fused rate", "composition rate", "speed-up"]];
for (const backend of wanted) {
  await tf.setBackend(backend);
  await tf.ready();
  const n = quick || (backend === "webgpu" && emulated) ? Math.min(runs, 3) : runs;
  for (const c of cases) {
    if (backend === "webgpu" && quick) continue;
    const { inputs, fused, composed } = c.make();
    const before = tf.memory().numTensors;
    const reps = backend === "webgpu" && !emulated ? Number(values.reps) : 1;
    const [tf_, tc] = await timePair(() => tf.tidy(fused), () => tf.tidy(composed), n, reps);
    if (tf.memory().numTensors !== before) throw new Error(`${c.op} leaked tensors on ${backend}`);
    tf.dispose(inputs);
    const rate = (ms: number) => (c.work.flops ? `${(c.work.flops / ms / 1e6).toFixed(1)} GFLOP/s` : `${(c.work.bytes! / ms / 1e6).toFixed(2)} GB/s`);
    rows.push([c.op, backend, c.shape, tf_.toFixed(2), tc.toFixed(2), rate(tf_), rate(tc), `${(tc / tf_).toFixed(2)}×`]);
    console.error(`  ${c.op} ${backend} ${c.shape}: ${tf_.toFixed(2)} ms vs ${tc.toFixed(2)} ms`);
  }
}

printTable(rows);
console.log(`\nbackends: ${wanted.join(", ")}; median of ${quick ? Math.min(runs, 3) : runs} interleaved runs after 2 warm-ups${emulated ? " (SwiftShader: 3)" : ""}; speed-up = composition / fused.`);
if (adapterInfo !== undefined) {
  console.log(`webgpu adapter: ${adapterInfo.vendor} / ${adapterInfo.architecture} / ${adapterInfo.description}`);
  if (emulated) console.log("webgpu here is SwiftShader (CPU emulation): 3 single calls per case, not a speed measurement.");
}
