/**
 * Validate-then-benchmark for the CUDA build: per GEMM size and transpose variant, checks the GPU result against
 * the CPU addon (relative error) and then prints GFLOP/s of the GPU call — host → device copies included, as the
 * `native` backend's `cuda` device pays them — beside the CPU addon's on all threads; then layer norm, softmax and
 * attention likewise. Without a GPU it prints why and exits 0.
 *
 *   npx tsx native/bench-cuda.ts [--runs 5]
 */
import { relativeErrorOf } from "../src/testing/backends.js";
import {
  cudaAvailable,
  cudaStatus,
  cudaUnavailableReason,
  nativeAttention,
  nativeGemm,
  nativeLayerNorm,
  nativeSoftmax,
  nativeUnavailableReason,
  setNativeDevice,
  type GemmCall,
} from "../src/native/addon.js";

const runsArg = process.argv.indexOf("--runs");
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

function fill(values: Float32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < values.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    values[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 2;
  }
}

/** Median milliseconds of `runs` calls after one warm-up. */
function time(f: () => void): number {
  f();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** Runs `kernel` on CPU and GPU over copies of one buffer: error of the output span, and both timings. */
function compare(floats: number, output: [number, number], kernel: (memory: ArrayBuffer) => void) {
  const cpu = new ArrayBuffer(4 * floats);
  fill(new Float32Array(cpu), floats);
  const gpu = cpu.slice(0);
  setNativeDevice("cpu");
  kernel(cpu);
  const cpuMs = time(() => kernel(cpu));
  setNativeDevice("cuda");
  kernel(gpu);
  const gpuMs = time(() => kernel(gpu));
  setNativeDevice("cpu");
  const error = relativeErrorOf(new Float32Array(gpu, output[0], output[1]), new Float32Array(cpu, output[0], output[1]));
  return { error, cpuMs, gpuMs };
}

function main(): void {
  if (nativeUnavailableReason() !== undefined) return console.log(`skipped: ${nativeUnavailableReason()}`);
  if (!cudaAvailable()) return console.log(`skipped: ${cudaUnavailableReason()}`);
  const s = cudaStatus()!;
  console.log(`${s.name} (compute ${s.computeCapability}), CUDA runtime ${s.runtimeVersion}, driver ${s.driverVersion}; medians of ${runs}`);
  console.log("| kernel | rel. error vs CPU | CPU ms | GPU ms (copies incl.) | GPU GFLOP/s |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const n of [256, 512, 1024, 2048]) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const call: GemmCall = { a: 0, b: 4 * n * n, c: 8 * n * n, m: n, n, k: n, transA, transB };
      const r = compare(3 * n * n, [call.c, n * n], (memory) => nativeGemm(memory, call));
      const name = `gemm ${n} ${transA ? "Aᵀ" : "A"}·${transB ? "Bᵀ" : "B"}`;
      console.log(`| ${name} | ${r.error.toExponential(1)} | ${r.cpuMs.toFixed(2)} | ${r.gpuMs.toFixed(2)} | ${((2 * n ** 3) / r.gpuMs / 1e6).toFixed(1)} |`);
    }
  }
  const [rows, channels] = [4096, 768];
  const ln = { x: 0, gamma: 4 * rows * channels, beta: 4 * (rows * channels + channels), out: 4 * (rows * channels + 2 * channels), rows, channels, epsilon: 1e-5 };
  const l = compare(2 * rows * channels + 2 * channels, [ln.out, rows * channels], (memory) => nativeLayerNorm(memory, ln));
  console.log(`| layerNorm ${rows}×${channels} | ${l.error.toExponential(1)} | ${l.cpuMs.toFixed(2)} | ${l.gpuMs.toFixed(2)} | – |`);
  const sm = compare(2 * rows * 1024, [4 * rows * 1024, rows * 1024], (memory) => nativeSoftmax(memory, { x: 0, y: 4 * rows * 1024, rows, n: 1024 }));
  console.log(`| softmax ${rows}×1024 | ${sm.error.toExponential(1)} | ${sm.cpuMs.toFixed(2)} | ${sm.gpuMs.toFixed(2)} | – |`);
  const [b, h, t, d] = [8, 12, 50, 64]; // ViT-B/32 at batch 8
  const qkv = b * h * t * d;
  const att = { q: 0, k: 4 * qkv, v: 8 * qkv, out: 12 * qkv, batch: b, heads: h, queries: t, keys: t, headSize: d, scale: 1 / 8, causal: false };
  const a = compare(4 * qkv, [att.out, qkv], (memory) => nativeAttention(memory, att));
  console.log(`| attention ${b}×${h}×${t}×${d} | ${a.error.toExponential(1)} | ${a.cpuMs.toFixed(2)} | ${a.gpuMs.toFixed(2)} | ${((4 * b * h * t * t * d) / a.gpuMs / 1e6).toFixed(1)} |`);
}

main();
