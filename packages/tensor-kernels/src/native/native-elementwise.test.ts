/**
 * The native elementwise kernels beside the GEMM family: Softmax (addon and the backend's Softmax kernel), the
 * gradients of gelu / quickGelu / silu, and the AdamW update in place — each against the cpu backend (the plain
 * tfjs compositions: activationDerivative, AdamW.step) at several sizes, with the tolerance stated per test.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackends, randomTensor, relativeErrorOf } from "../testing/backends.js";
import { activationDerivative } from "../ops/activations.js";
import { AdamW } from "../training/adamw.js";
import { nativeCopyBlocks, nativeHas } from "./addon.js";
import {
  GRADIENT_ACTIVATIONS,
  nativeActivationGrad,
  nativeAdamW,
  nativeAdamWStep,
  nativeAvailable,
  nativeSoftmax,
  nativeUnavailableReason,
  setNativeThreads,
} from "./index.js";

const backends = await initBackends();
const stale = backends.includes("native") && !(nativeHas("softmax") && nativeHas("activationGrad") && nativeHas("adamw"));
const skip = !backends.includes("native")
  ? ` (skipped: ${nativeUnavailableReason() ?? "no native backend"})`
  : stale
    ? " (skipped: the built addon predates these kernels; run `npm run build:native -w @proj/tensor-kernels`)"
    : "";

describe.skipIf(skip !== "")(`native elementwise kernels vs cpu${skip}`, () => {
  beforeAll(() => tf.setBackend("cpu"));
  afterAll(() => setNativeThreads(2));

  it.each([[1, 1], [3, 10], [64, 77], [7, 5000], [300, 200]])("softmax rows %i n %i matches cpu within 1e-6 on 1 and 2 threads", async (rows, n) => {
    const logits = randomTensor([rows, n], rows + n, 8);
    const want = await tf.softmax(logits).data();
    const values = await logits.data();
    for (const threads of [1, 2]) {
      setNativeThreads(threads);
      const memory = new ArrayBuffer(8 * rows * n);
      new Float32Array(memory, 0, rows * n).set(values);
      nativeSoftmax(memory, { x: 0, y: 4 * rows * n, rows, n });
      expect(relativeErrorOf(new Float32Array(memory, 4 * rows * n, rows * n), want)).toBeLessThanOrEqual(1e-6);
      nativeSoftmax(memory, { x: 0, y: 0, rows, n }); // in place
      expect(relativeErrorOf(new Float32Array(memory, 0, rows * n), want)).toBeLessThanOrEqual(1e-6);
    }
    tf.dispose([logits]);
  });

  it("the native backend's Softmax kernel matches cpu (last axis natively, another axis through wasm)", async () => {
    const x = randomTensor([4, 6, 33], 5, 4);
    const wantLast = await tf.softmax(x).data();
    const xData = await x.data();
    await tf.setBackend("native");
    const before = tf.memory().numTensors;
    const onNative = tf.tensor(xData, [4, 6, 33]);
    const got = tf.softmax(onNative);
    expect(relativeErrorOf(await got.data(), wantLast)).toBeLessThanOrEqual(1e-6);
    const lastAxisNeg = tf.softmax(onNative, -1);
    expect(relativeErrorOf(await lastAxisNeg.data(), wantLast)).toBeLessThanOrEqual(1e-6);
    tf.dispose([onNative, got, lastAxisNeg]);
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend("cpu");
    tf.dispose(x);
  });

  it.each(GRADIENT_ACTIVATIONS.flatMap((a) => [[a, 1], [a, 1000], [a, 100_000]] as const))(
    "%s gradient over %i values matches cpu's activationDerivative · dy within 1e-5",
    async (activation, size) => {
      const x = randomTensor([size], size, 6); // [−6, 6): both tails and the middle
      const dy = randomTensor([size], size + 1);
      const want = await tf.tidy(() => tf.mul(dy, activationDerivative(x, activation))).data();
      const memory = new ArrayBuffer(12 * size);
      const all = new Float32Array(memory);
      all.set(await x.data(), 0);
      all.set(await dy.data(), size);
      nativeActivationGrad(memory, { x: 0, dy: 4 * size, dx: 8 * size, size, activation });
      expect(relativeErrorOf(all.subarray(2 * size), want)).toBeLessThanOrEqual(1e-5);
      tf.dispose([x, dy]);
    },
  );

  it("rejects bad activation-gradient and AdamW arguments in TypeScript", () => {
    const memory = new ArrayBuffer(4 * 64);
    expect(() => nativeActivationGrad(memory, { x: 0, dy: 64, dx: 128, size: 16, activation: "relu" as "gelu" })).toThrow(/activation must be one of/);
    expect(() => nativeActivationGrad(memory, { x: 0, dy: 64, dx: 32, size: 16, activation: "gelu" })).toThrow(/dx must not overlap/);
    const adam = { param: 0, grad: 64, m: 128, v: 192, size: 16, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, learningRate: 1e-3, step: 1, weightDecay: 0 };
    expect(() => nativeAdamW(memory, adam)).not.toThrow();
    expect(() => nativeAdamW(memory, { ...adam, m: 100 })).toThrow(/overlap/);
    expect(() => nativeAdamW(memory, { ...adam, beta1: 1 })).toThrow(/beta1/);
    expect(() => nativeAdamW(memory, { ...adam, step: 0 })).toThrow(/step/);
    expect(() => nativeAdamW(memory, { ...adam, size: 17 })).toThrow(/past the end/);
  });

  it.runIf(nativeHas("copyBlocks"))("copies strided blocks, and rejects extents past the buffer or overlapping", () => {
    const memory = new ArrayBuffer(4 * 64);
    const words = new Int32Array(memory);
    words.set(Array.from({ length: 24 }, (_, i) => i + 1));
    // [2, 3, 4] → [3, 2, 4] (swap the outer axes; runs of 4) into words 32…55.
    nativeCopyBlocks(memory, { src: 0, dst: 128, run: 4, counts: [1, 3, 2], srcStrides: [0, 4, 12], dstStrides: [0, 8, 4] });
    expect(Array.from(words.subarray(32, 56))).toEqual([1, 2, 3, 4, 13, 14, 15, 16, 5, 6, 7, 8, 17, 18, 19, 20, 9, 10, 11, 12, 21, 22, 23, 24]);
    const call = { src: 0, dst: 128, run: 4, counts: [1, 3, 2] as const, srcStrides: [0, 4, 12] as const, dstStrides: [0, 8, 4] as const };
    expect(() => nativeCopyBlocks(memory, { ...call, dst: 164 })).toThrow(/dst .* extends past the end/);
    expect(() => nativeCopyBlocks(memory, { ...call, dst: 64 })).toThrow(/overlap/);
    expect(() => nativeCopyBlocks(memory, { ...call, srcStrides: [0, -4, 12] })).toThrow(/srcStrides\[1\]/);
    expect(() => nativeCopyBlocks(memory, { ...call, run: 1.5 })).toThrow(/run must be an integer/);
  });

  it("AdamW in place on native follows AdamW.step on cpu over 5 steps within 1e-6 (decay and no decay)", async () => {
    const shapes = { "layer.weight": [40, 30], "layer.bias": [30] } as const;
    const options = { betas: [0.9, 0.98] as const, epsilon: 1e-6, weightDecay: 0.2 };
    const init = Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, randomTensor([...shape], 20 + i)]));
    const grads = [0, 1, 2, 3, 4].map((step) => Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, randomTensor([...shape], 40 + 7 * step + i, 0.1)])));
    const rates = [1e-3, 2e-3, 3e-3, 2e-3, 1e-3];

    // The plain step on cpu.
    const cpuParams = new Map(Object.entries(init).map(([name, t]) => [name, tf.variable(t.clone(), true, `cpu/${name}`)]));
    const plain = new AdamW(cpuParams, options);
    for (let s = 0; s < 5; s++) plain.step(grads[s]!, rates[s]!);
    const want = Object.fromEntries(await Promise.all([...cpuParams].map(async ([name, v]) => [name, await v.data()] as const)));

    // The native kernel, driving the same equations through nativeAdamWStep.
    const data = Object.fromEntries(await Promise.all(Object.entries(init).map(async ([name, t]) => [name, await t.data()] as const)));
    const gradData = await Promise.all(grads.map(async (g) => Object.fromEntries(await Promise.all(Object.entries(g).map(async ([name, t]) => [name, await t.data()] as const)))));
    await tf.setBackend("native");
    const params = new Map(Object.entries(shapes).map(([name, shape]) => [name, tf.tidy(() => tf.variable(tf.tensor(data[name]!, [...shape]), true, `native/${name}`))]));
    const shared = params.get("layer.weight")!;
    const [sharedM, sharedV] = tf.tidy(() => [tf.variable(tf.zeros(shared.shape), false), tf.variable(tf.zeros(shared.shape), false)]);
    const g0 = tf.zeros(shared.shape);
    // A variable made from a live tensor shares its data: the in-place path declines it.
    const initial = tf.zeros(shared.shape);
    const aliased = tf.variable(initial, false);
    expect(nativeAdamWStep(aliased, g0, sharedM, sharedV, { beta1: 0.9, beta2: 0.98, epsilon: 1e-6, learningRate: 1e-3, step: 1, weightDecay: 0 })).toBe(false);
    tf.dispose([sharedM, sharedV, g0, initial, aliased]);
    const moments = new Map([...params].map(([name, p]) => [name, tf.tidy(() => [tf.variable(tf.zerosLike(p), false), tf.variable(tf.zerosLike(p), false)] as const)]));
    const before = tf.memory().numTensors;
    for (let s = 0; s < 5; s++) {
      for (const [name, p] of params) {
        const g = tf.tensor(gradData[s]![name]!, p.shape);
        const [m, v] = moments.get(name)!;
        const ran = nativeAdamWStep(p, g, m, v, {
          beta1: 0.9, beta2: 0.98, epsilon: 1e-6, learningRate: rates[s]!, step: s + 1,
          weightDecay: plain.decaysWeight(name) ? options.weightDecay : 0,
        });
        expect(ran).toBe(true);
        g.dispose();
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    for (const [name, p] of params) expect(relativeErrorOf(await p.data(), want[name]!)).toBeLessThanOrEqual(1e-6);
    tf.dispose([...params.values(), ...[...moments.values()].flat()]);
    await tf.setBackend("cpu");
    tf.dispose([...cpuParams.values(), ...Object.values(init), ...grads.flatMap((g) => Object.values(g))]);
    expect(nativeAvailable).toBe(true);
  });

  it("AdamW.step itself takes the in-place native update on the native backend (same numbers as cpu)", async () => {
    const shape = [24, 16];
    const init = randomTensor(shape, 5);
    const grads = [0, 1, 2].map((s) => randomTensor(shape, 60 + s, 0.1));
    const cpuParam = tf.variable(init.clone(), true, "adam-cpu");
    const plain = new AdamW(new Map([["w.weight", cpuParam]]), { weightDecay: 0.1 });
    for (const g of grads) plain.step({ "w.weight": g }, 1e-3);
    const want = await cpuParam.data();
    const values = await init.data();
    const gradValues = await Promise.all(grads.map((g) => g.data()));
    await tf.setBackend("native");
    const param = tf.tidy(() => tf.variable(tf.tensor(values, shape), true, "adam-native"));
    const optimizer = new AdamW(new Map([["w.weight", param]]), { weightDecay: 0.1 });
    const before = tf.memory().numTensors;
    let accelerated = 0;
    for (const g of gradValues) {
      const grad = tf.tensor(g, shape);
      const id = param.dataId;
      optimizer.step({ "w.weight": grad }, 1e-3);
      if (param.dataId === id) accelerated++; // the plain step assigns a new tensor; the native one writes in place
      grad.dispose();
    }
    expect(accelerated).toBeGreaterThanOrEqual(2); // the first step may decline (moments are made on first use)
    expect(tf.memory().numTensors).toBe(before + 2); // m and v, made on the first step
    expect(relativeErrorOf(await param.data(), want)).toBeLessThanOrEqual(1e-6);
    optimizer.dispose();
    param.dispose();
    await tf.setBackend("cpu");
    tf.dispose([cpuParam, init, ...grads]);
    plain.dispose();
  });
});
