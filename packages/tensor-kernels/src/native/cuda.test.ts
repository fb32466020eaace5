/**
 * The CUDA build (native/src/*.cu, native/src/cuda-addon.cc):
 *   - where nvcc was present at install (CI here: CUDA 13, no GPU), that the CUDA addon was compiled, warning-free,
 *     for the GPU architectures it names, and loads without a driver;
 *   - without a usable GPU, that it says why, refuses the `cuda` device, and leaves the CPU addon working;
 *   - with a GPU, every CUDA kernel against the CPU addon (their reference; GEMM against the double loop) within
 *     1e-5, and the `native` backend on the `cuda` device against tfjs-backend-cpu within 1e-4.
 * The GPU tests are skipped, with the reason in their title, where no GPU and driver are present.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackends, randomTensor, relativeErrorOf } from "../testing/backends.js";
import { attention } from "../ops/attention.js";
import { groupNorm } from "../ops/group-norm.js";
import { layerNorm } from "../ops/layer-norm.js";
import { linear } from "../ops/linear.js";
import {
  cudaAvailable,
  cudaCompiled,
  cudaStatus,
  cudaUnavailableReason,
  nativeAttention,
  nativeAvailable,
  nativeDevice,
  nativeGemm,
  nativeGroupNorm,
  nativeLayerNorm,
  nativeSoftmax,
  setNativeDevice,
  type GemmCall,
  type NativeActivation,
} from "./index.js";

const backends = await initBackends();

/** nvcc as install.mjs looks for it. */
function findNvcc(): string | undefined {
  const candidates = [process.env.PROJ_NVCC, process.env.CUDA_PATH && join(process.env.CUDA_PATH, "bin/nvcc")];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, "nvcc"));
  candidates.push("/usr/local/cuda/bin/nvcc");
  return candidates.find((p): p is string => typeof p === "string" && existsSync(p));
}

const nvcc = findNvcc();
const cudaSkipped = process.env.PROJ_NATIVE_SKIP_CUDA === "1" || process.env.PROJ_NATIVE_SKIP_BUILD === "1";
const buildSkip = nvcc === undefined ? " (skipped: no nvcc on this machine, so install builds no CUDA addon)" : cudaSkipped ? " (skipped: PROJ_NATIVE_SKIP_CUDA / PROJ_NATIVE_SKIP_BUILD set)" : "";
const gpu = nativeAvailable && cudaAvailable();
const gpuSkip = gpu ? "" : ` (skipped: ${nativeAvailable ? cudaUnavailableReason() : "the CPU addon, their reference, is not built"})`;

describe.skipIf(buildSkip !== "")(`CUDA build${buildSkip}`, () => {
  it(`compiled the CUDA addon with ${nvcc} and loads it without needing a GPU`, () => {
    expect(cudaCompiled(), cudaUnavailableReason()).toBe(true);
    const status = cudaStatus()!;
    expect(status.runtimeVersion).toBeGreaterThanOrEqual(11000);
    expect(status.targets).toMatch(/^(sm_\d+,)+compute_\d+$/);
    expect(status.devices).toBeGreaterThanOrEqual(0);
  });

  it("compiled warning-free (build-cuda.log holds only the nvcc command)", () => {
    const log = fileURLToPath(new URL("../../native/build-cuda.log", import.meta.url));
    expect(existsSync(log)).toBe(true);
    const text = readFileSync(log, "utf8");
    expect(text).toMatch(/nvcc .*gemm\.cu .*norm\.cu .*attention\.cu .*cuda-addon\.cc/);
    expect(text).not.toMatch(/warning|error/i);
  });
});

describe.skipIf(gpu || !nativeAvailable)(`without a usable GPU${gpu ? " (skipped: this machine has one)" : nativeAvailable ? "" : " (skipped: the CPU addon is not built)"}`, () => {
  it(`says why (${cudaUnavailableReason()}), refuses the cuda device and keeps the CPU kernels`, () => {
    expect(cudaAvailable()).toBe(false);
    expect(cudaUnavailableReason()).toMatch(/CUDA|cuda|nvcc/);
    expect(() => setNativeDevice("cuda")).toThrow(/cuda is not available/);
    expect(nativeDevice()).toBe("cpu");
    const memory = new ArrayBuffer(4 * 16);
    new Float32Array(memory).set([1, 2, 3, 4, 1, 1, 1, 1, 0, 0, 0, 0]); // x, γ, β, out
    nativeLayerNorm(memory, { x: 0, gamma: 16, beta: 32, out: 48, rows: 1, channels: 4, epsilon: 0 });
    const expected = [1, 2, 3, 4].map((v) => (v - 2.5) / Math.sqrt(1.25));
    expect(relativeErrorOf(new Float32Array(memory, 48, 4), expected)).toBeLessThanOrEqual(1e-6);
  });
});

/** Deterministic values in [−1, 1). */
function fill(values: Float32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < values.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    values[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 2;
  }
}

/** Runs `kernel` on the CPU addon and on the GPU over copies of one random buffer; returns both outputs. */
function cpuAndCuda(floats: number, seed: number, kernel: (memory: ArrayBuffer) => void, output: [number, number]) {
  const cpu = new ArrayBuffer(4 * floats);
  fill(new Float32Array(cpu), seed);
  const gpuMemory = cpu.slice(0);
  setNativeDevice("cpu");
  kernel(cpu);
  setNativeDevice("cuda");
  try {
    kernel(gpuMemory);
  } finally {
    setNativeDevice("cpu");
  }
  const [offset, length] = output;
  return { cpu: new Float32Array(cpu, offset, length), cuda: new Float32Array(gpuMemory, offset, length) };
}

describe.skipIf(!gpu)(`CUDA kernels vs the CPU addon${gpuSkip}`, () => {
  afterAll(() => setNativeDevice("cpu"));

  it(`reports the device (${gpu ? `${cudaStatus()?.name}, compute ${cudaStatus()?.computeCapability}` : "none"})`, () => {
    expect(cudaStatus()!.devices).toBeGreaterThan(0);
  });

  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 5, 3],
    [37, 41, 53],
    [64, 64, 16],
    [130, 257, 96],
    [15, 33, 1],
  ];
  it.each(shapes.flatMap((s) => [[...s, false, false], [...s, false, true], [...s, true, false], [...s, true, true]] as const))(
    "gemm m %i n %i k %i transA %s transB %s matches the double reference within 1e-5",
    (m, n, k, transA, transB) => {
      const call: GemmCall = { a: 0, b: 4 * m * k, c: 4 * (m * k + k * n), m, n, k, transA, transB };
      const floats = m * k + k * n + m * n;
      const cpu = new ArrayBuffer(4 * floats);
      fill(new Float32Array(cpu), m + n + k);
      const gpuMemory = cpu.slice(0);
      nativeGemm(cpu, call, true); // the double reference
      setNativeDevice("cuda");
      nativeGemm(gpuMemory, call);
      setNativeDevice("cpu");
      expect(relativeErrorOf(new Float32Array(gpuMemory, call.c, m * n), new Float32Array(cpu, call.c, m * n))).toBeLessThanOrEqual(1e-5);
    },
  );

  const activations: NativeActivation[] = ["none", "relu", "relu6", "leakyrelu", "elu", "sigmoid", "gelu", "quickGelu", "silu"];
  it.each(activations)("gemm fuses bias and %s; batches with a broadcast operand; accumulates; keeps C's gaps (ldc > n)", (activation) => {
    const [m, n, k, batch] = [29, 45, 70, 3];
    const a = 0, b = 4 * m * k, bias = b + 4 * k * n * batch, c = bias + 4 * n;
    const ldc = n + 3;
    const call: GemmCall = { a, b, c, bias, m, n, k, batch, strideA: 0, ldc, strideC: m * ldc, activation, alpha: 0.1, accumulate: true, transB: true, ldb: k };
    const floats = c / 4 + m * ldc * batch;
    const cpu = new ArrayBuffer(4 * floats);
    fill(new Float32Array(cpu), 11);
    const gpuMemory = cpu.slice(0);
    nativeGemm(cpu, call, true);
    setNativeDevice("cuda");
    nativeGemm(gpuMemory, call);
    setNativeDevice("cpu");
    const length = m * ldc * batch;
    expect(relativeErrorOf(new Float32Array(gpuMemory, c, length), new Float32Array(cpu, c, length))).toBeLessThanOrEqual(1e-5);
  });

  it.each([[1, 8], [37, 768], [5, 1500]])("layerNorm rows %i channels %i", (rows, channels) => {
    const size = rows * channels;
    const o = { x: 0, gamma: 4 * size, beta: 4 * (size + channels), out: 4 * (size + 2 * channels), rows, channels, epsilon: 1e-5 };
    const r = cpuAndCuda(2 * size + 2 * channels, rows, (memory) => nativeLayerNorm(memory, o), [o.out, size]);
    expect(relativeErrorOf(r.cuda, r.cpu)).toBeLessThanOrEqual(1e-5);
  });

  it.each([[2, 64, 32, 8, false], [2, 64, 32, 8, true], [1, 1024, 64, 32, true], [3, 7, 6, 3, false]] as const)(
    "groupNorm samples %i pixels %i channels %i groups %i silu %s",
    (samples, pixels, channels, groups, silu) => {
      const size = samples * pixels * channels;
      const o = { x: 0, gamma: 4 * size, beta: 4 * (size + channels), out: 4 * (size + 2 * channels), samples, pixels, channels, groups, epsilon: 1e-5, silu };
      const r = cpuAndCuda(2 * size + 2 * channels, pixels, (memory) => nativeGroupNorm(memory, o), [o.out, size]);
      expect(relativeErrorOf(r.cuda, r.cpu)).toBeLessThanOrEqual(1e-5);
    },
  );

  it.each([[1, 1], [3, 10], [64, 77], [4, 5000]])("softmax rows %i n %i", (rows, n) => {
    const size = rows * n;
    const r = cpuAndCuda(2 * size, n, (memory) => nativeSoftmax(memory, { x: 0, y: 4 * size, rows, n }), [4 * size, size]);
    expect(relativeErrorOf(r.cuda, r.cpu)).toBeLessThanOrEqual(1e-5);
  });

  it.each([
    [2, 3, 10, 12, 16, false, false],
    [1, 8, 50, 50, 64, true, false],
    [2, 2, 7, 9, 8, false, true],
    [1, 1, 1, 300, 32, true, true],
  ] as const)("attention b %i h %i tq %i tk %i d %i causal %s mask %s", (b, h, tq, tk, d, causal, masked) => {
    const qFloats = b * h * tq * d, kvFloats = b * h * tk * d;
    const maskFloats = b * tq * tk; // [B, 1, Tq, Tk]
    const q = 0, k = 4 * qFloats, v = k + 4 * kvFloats, mask = v + 4 * kvFloats, out = mask + 4 * maskFloats;
    const o = {
      q, k, v, out, batch: b, heads: h, queries: tq, keys: tk, headSize: d, scale: 1 / Math.sqrt(d), causal,
      ...(masked ? { mask, maskStrides: [tq * tk, 0, tk, 1] as const } : {}),
    };
    const r = cpuAndCuda(out / 4 + qFloats, tk, (memory) => {
      if (masked) {
        const m = new Float32Array(memory, mask, maskFloats);
        for (let i = 0; i < m.length; i++) m[i] = i % 5 === 0 ? -Infinity : m[i]!;
      }
      nativeAttention(memory, o);
    }, [out, qFloats]);
    expect(relativeErrorOf(r.cuda, r.cpu)).toBeLessThanOrEqual(1e-5);
  });
});

describe.skipIf(!gpu || !backends.includes("native"))(`native backend on the cuda device vs cpu${gpuSkip}`, () => {
  beforeAll(() => setNativeDevice("cuda"));
  afterAll(async () => {
    setNativeDevice("cpu");
    await tf.setBackend("native");
  });

  async function cudaVsCpu(f: () => tf.Tensor): Promise<number> {
    await tf.setBackend("native");
    const got = await f().data();
    await tf.setBackend("cpu");
    const want = await f().data();
    return relativeErrorOf(got, want);
  }

  it("matMul, linear + gelu, softmax, layerNorm, groupNorm + SiLU and attention match cpu within 1e-4", async () => {
    const before = tf.memory().numTensors;
    const errors = [
      await cudaVsCpu(() => tf.tidy(() => tf.matMul(randomTensor([4, 30, 20], 1), randomTensor([4, 20, 10], 2), false, false))),
      await cudaVsCpu(() => tf.tidy(() => linear(randomTensor([2, 9, 32], 3), randomTensor([32, 48], 4), randomTensor([48], 5), { activation: "gelu" }))),
      await cudaVsCpu(() => tf.tidy(() => tf.softmax(randomTensor([6, 33], 6)))),
      await cudaVsCpu(() => tf.tidy(() => layerNorm(randomTensor([5, 64], 7), randomTensor([64], 8), randomTensor([64], 9)))),
      await cudaVsCpu(() => tf.tidy(() => groupNorm(randomTensor([2, 4, 4, 32], 10), randomTensor([32], 11), randomTensor([32], 12), { groups: 8, activation: "silu" }))),
      await cudaVsCpu(() => tf.tidy(() => attention(randomTensor([2, 4, 9, 16], 13), randomTensor([2, 4, 11, 16], 14), randomTensor([2, 4, 11, 16], 15), { causal: true }))),
    ];
    for (const error of errors) expect(error).toBeLessThanOrEqual(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });
});
