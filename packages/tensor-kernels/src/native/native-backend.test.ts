/**
 * The native backend and addon: every GEMM variant (ISA × transposes × epilogue × batch) against the double
 * reference loop, determinism across thread counts, the tfjs kernels it replaces (BatchMatMul, _FusedMatMul,
 * Conv2D and both gradients) against tfjs-backend-cpu within 1e-4, gradients of a small conv + MLP network
 * against cpu within 1e-4, argument checks before any native call, and no leak over 10,000 kernel calls.
 * The shared op suites (src/ops/*.test.ts) run on `native` too through initBackends.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackends, randomTensor, relativeError, relativeErrorOf } from "../testing/backends.js";
import { linear } from "../ops/linear.js";
import { qkvAttention } from "../ops/qkv-attention.js";
import {
  nativeAvailable,
  nativeGemm,
  nativeIsa,
  nativeThreads,
  nativeUnavailableReason,
  setNativeIsa,
  setNativeThreads,
  type GemmCall,
  type NativeActivation,
  type NativeIsa,
} from "./index.js";

const backends = await initBackends();
const skipReason = nativeAvailable ? "" : ` (skipped: ${nativeUnavailableReason()})`;

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

/** One buffer holding A, B, bias, C (native) and C (reference); offsets in bytes. */
function gemmCase(call: Omit<GemmCall, "a" | "b" | "c" | "bias">, withBias: boolean, seed: number) {
  const { m, n, k, transA = false, transB = false, batch = 1 } = call;
  const aFloats = m * k * (call.strideA === 0 ? 1 : batch);
  const bFloats = k * n * (call.strideB === 0 ? 1 : batch);
  const cFloats = m * n * batch;
  const memory = new ArrayBuffer(4 * (aFloats + bFloats + n + 2 * cFloats));
  const all = new Float32Array(memory);
  fill(all, seed);
  const offsets = { a: 0, b: 4 * aFloats, bias: 4 * (aFloats + bFloats), c: 4 * (aFloats + bFloats + n) };
  const reference = offsets.c + 4 * cFloats;
  const args = (c: number): GemmCall => ({
    ...call,
    a: offsets.a,
    b: offsets.b,
    c,
    bias: withBias ? offsets.bias : undefined,
    transA,
    transB,
    strideC: m * n,
  });
  return {
    memory,
    run: () => nativeGemm(memory, args(offsets.c)),
    reference: () => nativeGemm(memory, args(reference), true),
    result: () => new Float32Array(memory, offsets.c, cFloats),
    expected: () => new Float32Array(memory, reference, cFloats),
  };
}

const isas: NativeIsa[] = nativeAvailable ? (["scalar", "avx2", "avx512"] as const).filter((isa) => isa === "scalar" || isa === "avx2" || nativeIsa().best === "avx512").filter((isa) => isa !== "avx2" || nativeIsa().best !== "scalar") : [];

describe.skipIf(!nativeAvailable)(`native GEMM${skipReason}`, () => {
  const best = nativeAvailable ? nativeIsa().best : "scalar";
  afterAll(() => {
    setNativeIsa(best);
    setNativeThreads(2);
  });

  it(`uses the best ISA of this CPU (${best}); ISAs tested: ${isas.join(", ")}`, () => {
    expect(nativeIsa().current).toBe(best);
  });

  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 5, 3],
    [37, 41, 53], // no multiple of any tile
    [64, 96, 300],
    [20, 40, 1100], // K over one 1024 slice
    [130, 257, 96], // N over several panels, partial last
    [15, 33, 1], // K = 1
  ];
  const activations: NativeActivation[] = ["none", "relu", "gelu", "quickGelu", "silu", "sigmoid", "elu", "leakyrelu", "relu6"];

  describe.each(isas)("%s", (isa) => {
    beforeAll(() => expect(setNativeIsa(isa)).toBe(true));

    it.each(shapes.flatMap((s) => [[...s, false, false], [...s, false, true], [...s, true, false], [...s, true, true]] as const))(
      "m %i n %i k %i transA %s transB %s matches the double reference within 1e-5",
      (m, n, k, transA, transB) => {
        const g = gemmCase({ m, n, k, transA, transB }, false, m * 7 + n);
        g.run();
        g.reference();
        expect(relativeErrorOf(g.result(), g.expected())).toBeLessThanOrEqual(1e-5);
      },
    );

    it("every row count 1..30 and 226..230 (row tiles of every height, a second MC block) matches the reference", () => {
      for (const m of [...Array.from({ length: 30 }, (_, i) => i + 1), 226, 227, 229, 230]) {
        const g = gemmCase({ m, n: 70, k: 40, transA: m % 2 === 1, activation: "gelu" }, m % 3 === 0, m);
        g.run();
        g.reference();
        expect(relativeErrorOf(g.result(), g.expected()), `m ${m}`).toBeLessThanOrEqual(1e-5);
      }
    });

    it.each(activations)("fuses bias and %s into the epilogue (whole and edge tiles, with and without accumulating)", (activation) => {
      const g = gemmCase({ m: 29, n: 45, k: 70, activation, alpha: 0.1 }, true, 3);
      g.run();
      g.reference();
      expect(relativeErrorOf(g.result(), g.expected())).toBeLessThanOrEqual(1e-5);
      // Two K slices into a C that already holds values: the epilogue sees C + A·B, added in registers on AVX-512.
      const acc = gemmCase({ m: 50, n: 64, k: 1100, activation, alpha: 0.1, accumulate: true }, true, 4);
      acc.result().set(acc.expected());
      acc.run();
      acc.reference();
      expect(relativeErrorOf(acc.result(), acc.expected())).toBeLessThanOrEqual(1e-5);
    });

    it("accumulates into C, and runs batches with broadcast operands (stride 0)", () => {
      const g = gemmCase({ m: 20, n: 19, k: 18, batch: 5, strideA: 0, transB: true }, true, 9);
      g.run();
      g.reference();
      expect(relativeErrorOf(g.result(), g.expected())).toBeLessThanOrEqual(1e-5);
      const acc = gemmCase({ m: 20, n: 19, k: 300, accumulate: true }, false, 4);
      acc.result().set(acc.expected()); // the same starting C for both
      acc.run();
      acc.reference();
      expect(relativeErrorOf(acc.result(), acc.expected())).toBeLessThanOrEqual(1e-5);
    });

    it("handles k = 0 (C = act(bias)) and empty m or n", () => {
      const g = gemmCase({ m: 3, n: 4, k: 0, activation: "relu" }, true, 5);
      g.run();
      g.reference();
      expect(Array.from(g.result())).toEqual(Array.from(g.expected()));
      expect(() => gemmCase({ m: 0, n: 4, k: 3 }, false, 1).run()).not.toThrow();
    });
  });

  it("gives bit-identical results for 1 and 2 threads (large enough to run in parallel)", () => {
    const g = gemmCase({ m: 300, n: 280, k: 270, transA: true, activation: "gelu" }, true, 8);
    setNativeThreads(1);
    g.run();
    const one = Float32Array.from(g.result());
    setNativeThreads(2);
    expect(nativeThreads()).toBe(2);
    g.run();
    expect(Array.from(g.result())).toEqual(Array.from(one));
    g.run();
    expect(Array.from(g.result())).toEqual(Array.from(one));
  });

  it("rejects bad arguments in TypeScript", () => {
    const memory = new ArrayBuffer(4 * 100);
    const base = { a: 0, b: 0, c: 0, m: 5, n: 5, k: 4 };
    expect(() => nativeGemm(memory, base)).not.toThrow();
    expect(() => nativeGemm(memory, { ...base, m: 6 })).not.toThrow();
    expect(() => nativeGemm(memory, { ...base, m: 20, n: 20 })).toThrow(/extends past the end of the buffer/);
    expect(() => nativeGemm(memory, { ...base, c: 2 })).toThrow(/multiple of 4/);
    expect(() => nativeGemm(memory, { ...base, a: -4 })).toThrow(/non-negative byte offset/);
    expect(() => nativeGemm(memory, { ...base, m: -1 })).toThrow(/m must be an integer/);
    expect(() => nativeGemm(memory, { ...base, k: 1.5 })).toThrow(/k must be an integer/);
    expect(() => nativeGemm(memory, { ...base, lda: 2 })).toThrow(/lda must be an integer in \[4/);
    expect(() => nativeGemm(memory, { ...base, activation: "tanh" as NativeActivation })).toThrow(/unknown activation/);
    expect(() => nativeGemm(new Float32Array(100) as unknown as ArrayBuffer, base)).toThrow(/must be an ArrayBuffer/);
    expect(() => nativeGemm(memory, { ...base, batch: 5 })).toThrow(/c (.*) extends past the end/);
    expect(() => setNativeThreads(0)).toThrow(RangeError);
  });
});

describe.skipIf(!backends.includes("native"))(`native backend vs cpu${skipReason}`, () => {
  beforeAll(() => tf.setBackend("native"));

  /** Runs `f` on native and on cpu (same inputs, read back as data) and returns the relative error per output. */
  async function nativeVsCpu(f: () => tf.Tensor | tf.Tensor[]): Promise<number[]> {
    await tf.setBackend("native");
    const got = [f()].flat();
    const gotData = await Promise.all(got.map((t) => t.data()));
    await tf.setBackend("cpu");
    const want = [f()].flat();
    const errors = await Promise.all(want.map(async (t, i) => relativeErrorOf(gotData[i]!, await t.data())));
    expect(got.map((t) => t.shape)).toEqual(want.map((t) => t.shape));
    tf.dispose([...got, ...want]);
    await tf.setBackend("native");
    return errors;
  }

  it.each([
    [[33, 17], [17, 29], false, false],
    [[17, 33], [17, 29], true, false],
    [[33, 17], [29, 17], false, true],
    [[17, 33], [29, 17], true, true],
    [[4, 3, 20, 30], [4, 3, 30, 10], false, false],
    [[4, 3, 20, 30], [30, 10], false, false], // b broadcast over the batch
    [[1, 20, 30], [6, 10, 30], false, true], // a broadcast
  ] as const)("BatchMatMul a %j b %j transposeA %s transposeB %s", async (aShape, bShape, ta, tb) => {
    const before = tf.memory().numTensors;
    const [error] = await nativeVsCpu(() => tf.tidy(() => tf.matMul(randomTensor([...aShape], 1), randomTensor([...bShape], 2), ta, tb)));
    expect(error).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("Exp matches cpu within 1e-6, with exp(−∞) = 0, exp(+∞) = ∞ and NaN kept", async () => {
    const values = [-Infinity, -100, -87, -20, -1, -1e-3, 0, 1e-3, 0.5, 1, 10, 50, 88, 89, Infinity, NaN];
    const [error] = await nativeVsCpu(() => tf.tidy(() => tf.exp(tf.mul(randomTensor([1000], 3), 30))));
    expect(error).toBeLessThanOrEqual(1e-6);
    const got = Array.from(await tf.exp(tf.tensor1d(values)).data());
    values.forEach((v, i) => {
      const want = Math.fround(Math.exp(v));
      if (Number.isNaN(v)) expect(got[i]).toBeNaN();
      else if (!Number.isFinite(want) || want === 0) expect(got[i]).toBe(want);
      else expect(Math.abs(got[i]! - want)).toBeLessThanOrEqual(2e-7 * want + 1e-37);
    });
  });

  it.each([
    [[1, 50, 2304], 3, -1], // attention's q/k/v split
    [[4, 6, 35], [10, 0, 25], 2], // an empty part
    [[3, 12, 5, 4], [2, 7, 3], 1], // runs of size·inner elements
    [[12, 40], [5, 7], 0], // outer 1: one run per part
    [[9, 8, 3], [2, 6], 1], // short runs: copied element by element
    [[2, 8, 8, 96], [64, 32], 3], // concat's gradient in the U-Net
  ] as const)("SplitV of %j into %j along axis %i equals cpu exactly", async (shape, splits, axis) => {
    const before = tf.memory().numTensors;
    const sizes = typeof splits === "number" ? splits : [...splits];
    const errors = await nativeVsCpu(() => tf.tidy(() => tf.split(randomTensor([...shape], 7), sizes, axis)));
    expect(errors).toEqual(errors.map(() => 0));
    const ints = tf.tensor3d(Array.from({ length: 2 * 3 * 40 }, (_, i) => i), [2, 3, 40], "int32");
    const [p, q] = tf.split(ints, [16, 24], 2);
    expect(Array.from(await p!.data()).slice(0, 17)).toEqual([...Array.from({ length: 16 }, (_, i) => i), 40]);
    expect((await q!.data())[0]).toBe(16);
    tf.dispose([ints, p!, q!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [[[2, 8, 8, 32], [2, 8, 8, 64]], 3], // the U-Net's skip connections
    [[[3, 4, 300], [3, 5, 300], [3, 0, 300]], 1], // long runs, an empty input
    [[[5, 7], [2, 7]], 0],
    [[[1, 50, 768], [1, 50, 768], [1, 50, 768]], -1],
  ] as const)("Concat of %j along axis %i equals cpu exactly", async (shapes, axis) => {
    const before = tf.memory().numTensors;
    const errors = await nativeVsCpu(() => tf.tidy(() => tf.concat(shapes.map((shape, i) => randomTensor([...shape], 40 + i)), axis)));
    expect(errors).toEqual([0]);
    const ints = tf.tidy(() => tf.concat([tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32"), tf.tensor2d([[5], [6]], [2, 1], "int32")], 1));
    expect(Array.from(await ints.data())).toEqual([1, 2, 5, 3, 4, 6]);
    ints.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("GatherV2 along axis 0 (an embedding lookup) equals cpu exactly; other axes and bad indices as wasm", async () => {
    const before = tf.memory().numTensors;
    const ids = [[3, 0, 9], [9, 9, 1]];
    const errors = await nativeVsCpu(() =>
      tf.tidy(() => [
        tf.gather(randomTensor([10, 7, 3], 11), tf.tensor2d(ids, [2, 3], "int32")), // [2, 3, 7, 3]
        tf.gather(randomTensor([10, 4], 12), tf.tensor1d([], "int32")), // no indices
        tf.gather(randomTensor([5, 6], 13), tf.tensor1d([4, 0, 5], "int32"), 1), // axis 1: wasm's kernel
      ]),
    );
    expect(errors, JSON.stringify(errors)).toEqual([0, 0, 0]);
    const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], "int32");
    const picked = tf.tidy(() => tf.gather(table, tf.tensor1d([2, 0, 2], "int32")));
    expect(picked.shape).toEqual([3, 2]);
    expect(Array.from(await picked.data())).toEqual([5, 6, 1, 2, 5, 6]);
    // An index out of range goes to wasm's kernel: the same result (or error) as on wasm.
    const outOfRange = async (backend: string) => {
      await tf.setBackend(backend);
      try {
        return Array.from(await tf.tidy(() => tf.gather(tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32"), tf.tensor1d([1, 7], "int32"))).data());
      } catch (error) {
        return String(error);
      } finally {
        await tf.setBackend("native");
      }
    };
    expect(await outOfRange("native")).toEqual(await outOfRange("wasm"));
    tf.dispose([table, picked]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [[2, 50, 12, 64], [0, 2, 1, 3]], // attention's head split [B, T, H, Dh] → [B, H, T, Dh]
    [[7, 32, 7, 96], [0, 2, 1, 3]], // the ViT's patch extraction
    [[3, 4, 5, 6], [2, 0, 1, 3]],
    [[5, 3, 8], [1, 0, 2]],
    [[6, 9], [0, 1]], // the identity permutation: a copy
    [[4, 0, 3], [1, 0, 2]], // empty
    [[3, 4, 5], [0, 2, 1]], // the last axis moves: wasm's kernel
    [[2, 3, 4, 5, 6], [0, 2, 1, 3, 4]], // rank 5: wasm's kernel
  ] as const)("Transpose of %j by %j equals cpu exactly", async (shape, perm) => {
    const before = tf.memory().numTensors;
    const errors = await nativeVsCpu(() => tf.tidy(() => tf.transpose(randomTensor([...shape], 9), [...perm])));
    expect(errors).toEqual([0]);
    const ints = tf.tidy(() => tf.transpose(tf.tensor3d(Array.from({ length: 12 }, (_, i) => i), [2, 3, 2], "int32"), [1, 0, 2]));
    expect(ints.shape).toEqual([3, 2, 2]);
    expect(Array.from(await ints.data())).toEqual([0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]);
    ints.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [[32, 8, 8, 16], [0, 1, 2], false], // a conv bias gradient
    [[700, 19], [0], true],
    [[3, 300, 5], [1, 0], false], // axes in any order
    [[4, 6], [1], false], // not leading: wasm's kernel
    [[5, 7], [0, 1], false], // everything: wasm's kernel
    [[0, 7], [0], false], // no rows: zeros
  ] as const)("Sum of %j over axes %j (keepDims %s) matches cpu within 1e-5", async (shape, axes, keepDims) => {
    const before = tf.memory().numTensors;
    const [error] = await nativeVsCpu(() => tf.tidy(() => tf.sum(randomTensor([...shape], 8), [...axes], keepDims)));
    expect(error).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [[3, 70, 33], [3, 70, 33]],
    [[2, 5, 5, 40], [40]], // a bias row
    [[40], [2, 5, 5, 40]], // the small side first
    [[1, 9, 16], [4, 9, 16]],
    [[300000], [1]], // a scalar, in parallel chunks
    [[1], [7, 3]],
    [[4, 1], [4, 5]], // a broadcast of another kind: wasm's kernel
  ] as const)("Add, Sub and Multiply of %j and %j match cpu exactly", async (aShape, bShape) => {
    const before = tf.memory().numTensors;
    const errors = await nativeVsCpu(() =>
      tf.tidy(() => {
        const [a, b] = [randomTensor([...aShape], 31), randomTensor([...bShape], 32)];
        return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b)];
      }),
    );
    expect(errors, JSON.stringify(errors)).toEqual([0, 0, 0]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("Identity shares the data: disposing either side leaves the other intact, and no heap buffer leaks", async () => {
    const ids = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const [buffers, heapIds] = [tf.memory().numDataBuffers, ids()];
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.engine().runKernel("Identity", { x }) as tf.Tensor;
    expect([tf.memory().numDataBuffers, ids()]).toEqual([buffers + 1, heapIds + 1]); // one buffer, two tensors
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3]);
    y.dispose();
    expect([tf.memory().numDataBuffers, ids()]).toEqual([buffers, heapIds]);
  });

  it("BatchMatMul on int32 goes to wasm's kernel (which refuses it, as on the wasm backend)", () => {
    const [a, b] = [tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32"), tf.tensor2d([[5], [6]], [2, 1], "int32")];
    expect(() => tf.matMul(a, b)).toThrow(/non-float32/);
    tf.dispose([a, b]);
  });

  it.each(["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu", "prelu"] as const)("_FusedMatMul with bias and %s", async (activation) => {
    const errors = await nativeVsCpu(() =>
      tf.tidy(() => {
        const a = randomTensor([2, 19, 23], 3);
        const b = randomTensor([23, 21], 4);
        const common = { a, b, activation, leakyreluAlpha: 0.3 };
        const rowBias = tf.fused.matMul({ ...common, bias: randomTensor([21], 5), preluActivationWeights: activation === "prelu" ? randomTensor([21], 6) : undefined });
        const columnBias = tf.fused.matMul({ ...common, bias: randomTensor([19, 1], 7), preluActivationWeights: activation === "prelu" ? randomTensor([21], 6) : undefined });
        return [rowBias, columnBias];
      }),
    );
    for (const error of errors) expect(error).toBeLessThanOrEqual(1e-5);
  });

  type Pad = "same" | "valid" | number;
  const convCases: [string, [number, number, number, number], [number, number, number, number], number | [number, number], Pad, number][] = [
    ["3×3 same s1", [2, 9, 7, 3], [3, 3, 3, 5], 1, "same", 1],
    ["3×3 valid s2", [3, 11, 10, 2], [3, 3, 2, 7], 2, "valid", 1],
    ["5×3 same s(2,3)", [2, 13, 17, 3], [5, 3, 3, 4], [2, 3], "same", 1],
    ["1×1 s1 (no im2col)", [2, 6, 5, 16], [1, 1, 16, 9], 1, "valid", 1],
    ["patch embed 4×4 s4", [2, 16, 16, 3], [4, 4, 3, 32], 4, "valid", 1],
    ["pad 1", [1, 9, 9, 2], [3, 3, 2, 3], 1, 1, 1],
    ["dilation 2 (forward only)", [1, 12, 11, 3], [3, 3, 3, 4], 1, "same", 2],
    // the indirect kernels: pixel blocks (> 4096 output pixels), an edge panel (Cout 40), channel tiles that do not
    // divide Cin (13), a filter of more than 49 taps, a 1-channel input
    ["3×3 same s1, 4608 pixels, Cin 13, Cout 40", [2, 48, 48, 13], [3, 3, 13, 40], 1, "same", 1],
    ["8×8 same s1 (64 taps)", [1, 10, 9, 5], [8, 8, 5, 7], 1, "same", 1],
    ["3×3 same s1, Cin 1", [2, 7, 6, 1], [3, 3, 1, 33], 1, "same", 1],
    // Cin above the filter gradient's 256-pixel chunk: its zero row for padding is Cin long (it once overran its
    // scratch buffer here — seen by `npm run sanitize`, silent otherwise)
    ["3×3 same s1, Cin 300", [1, 5, 4, 300], [3, 3, 300, 6], 1, "same", 1],
  ];

  const convIsas = isas.length > 0 ? isas : ["scalar" as const];
  it.each(convIsas.flatMap((isa) => convCases.map((c) => [isa, ...c] as const)))("Conv2D and both gradients (%s): %s", async (isa, _name, xShape, fShape, strides, pad, dilation) => {
    const bestIsa = nativeIsa().current;
    if (nativeAvailable) expect(setNativeIsa(isa)).toBe(true);
    const before = tf.memory().numTensors;
    const errors = await nativeVsCpu(() =>
      tf.tidy(() => {
        const x = randomTensor(xShape, 11) as tf.Tensor4D;
        const w = randomTensor(fShape, 12) as tf.Tensor4D;
        const y = tf.conv2d(x, w, strides, pad, "NHWC", dilation);
        if (dilation !== 1) return [y];
        const probe = randomTensor(y.shape, 13);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad), probe)))([x, w]);
        return [y, dx!, dw!];
      }),
    );
    if (nativeAvailable) setNativeIsa(bestIsa);
    for (const error of errors) expect(error).toBeLessThanOrEqual(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("Conv2D and both gradients give bit-identical results on 1 and 2 threads", async () => {
    const run = async (threads: number) => {
      setNativeThreads(threads);
      const out = tf.tidy(() => {
        const x = randomTensor([4, 40, 40, 16], 21) as tf.Tensor4D;
        const w = randomTensor([3, 3, 16, 24], 22) as tf.Tensor4D;
        const probe = randomTensor([4, 40, 40, 24], 23);
        const y = tf.conv2d(x, w, 1, "same");
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same"), probe)))([x, w]);
        return [y, dx!, dw!];
      });
      const data = await Promise.all(out.map((t) => t.data()));
      tf.dispose(out);
      return data;
    };
    const threads = nativeThreads();
    const [one, two] = [await run(1), await run(2)];
    setNativeThreads(threads);
    one.forEach((values, i) => expect(Array.from(two[i]!)).toEqual(Array.from(values)));
  });

  it.each(["linear", "relu", "sigmoid", "leakyrelu", "prelu"] as const)("FusedConv2D with bias and %s", async (activation) => {
    const [error] = await nativeVsCpu(() =>
      tf.tidy(() =>
        tf.fused.conv2d({
          x: randomTensor([2, 9, 8, 3], 14) as tf.Tensor4D,
          filter: randomTensor([3, 3, 3, 6], 15) as tf.Tensor4D,
          strides: 2,
          pad: "same",
          bias: randomTensor([6], 16),
          activation,
          leakyreluAlpha: 0.3,
          preluActivationWeights: activation === "prelu" ? randomTensor([6], 17) : undefined,
        }),
      ),
    );
    expect(error).toBeLessThanOrEqual(1e-5);
  });

  it("Conv2D in NCHW falls back to wasm", async () => {
    const x = tf.ones([1, 2, 5, 5]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 2, 4]) as tf.Tensor4D;
    expect(() => tf.conv2d(x, w, 1, "same", "NCHW")).toThrow(); // wasm supports NHWC only, like tfjs-backend-wasm
    tf.dispose([x, w]);
  });

  it("gradients of a conv + groupNorm-free MLP network match cpu within 1e-4", async () => {
    const errors = await nativeVsCpu(() =>
      tf.tidy(() => {
        const x = randomTensor([4, 8, 8, 3], 21) as tf.Tensor4D;
        const params = [randomTensor([3, 3, 3, 8], 22, 0.3), randomTensor([8 * 4 * 4, 16], 23, 0.1), randomTensor([16], 24, 0.1), randomTensor([16, 5], 25, 0.3)];
        const loss = (w1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor, w3: tf.Tensor) => {
          const h = tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 2, "same")); // [4, 4, 4, 8]
          const z = linear(tf.reshape(h, [4, 128]), w2, b2, { activation: "gelu" });
          return tf.mean(tf.square(tf.matMul(z, w3))) as tf.Scalar;
        };
        const { value, grads } = tf.valueAndGrads(loss)(params);
        return [value, ...grads];
      }),
    );
    for (const error of errors) expect(error).toBeLessThanOrEqual(1e-4);
  });

  it("does not leak over 10,000 kernel calls (tensors, heap buffers, RSS)", async () => {
    const x = randomTensor([16, 64], 31);
    const w = randomTensor([64, 64], 32);
    const b = randomTensor([64], 33);
    const run = () =>
      tf.tidy(() => {
        const y = linear(x, w, b, { activation: "silu" });
        const z = tf.matMul(y, w, false, true);
        tf.conv2d(tf.reshape(z, [1, 4, 4, 64]) as tf.Tensor4D, tf.reshape(w, [1, 1, 64, 64]) as tf.Tensor4D, 1, "valid");
        qkvAttention(tf.reshape(tf.concat([y, z, y], 1), [2, 8, 192]), { heads: 4 }); // the kernels added later, too
        tf.transpose(tf.reshape(y, [2, 8, 4, 16]), [0, 2, 1, 3]);
        tf.gather(w, tf.tensor1d([1, 5, 2], "int32"));
      });
    for (let i = 0; i < 200; i++) run(); // warm up: scratch buffers and the heap reach their size
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 1700; i++) run(); // ≥ 10,000 native kernel calls
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
    expect(process.memoryUsage().rss - rss).toBeLessThan(32 * 2 ** 20);
    tf.dispose([x, w, b]);
  });

  it("rejects bad input in JS before native code runs", async () => {
    const a = tf.ones([3, 4]);
    const b = tf.ones([5, 6]);
    expect(() => tf.matMul(a, b)).toThrow(/inner/i);
    expect(() => linear(tf.ones([2, 3], "int32"), tf.ones([3, 2]))).toThrow(/float32/);
    tf.dispose([a, b]);
    // A relative error of the backend helper itself, as a sanity check of the comparison.
    expect(await relativeError(tf.ones([2]), [1, 1])).toBe(0);
  });
});
