/**
 * The native backend's gradient kernels: `ProjActivationGrad` (linear's dy ⊙ act'(z), through nativeActivationGrad)
 * and `ProjAttentionGrad` / `ProjMaskedAttentionGrad` (attention's fused backward). Each gradient on `native` is
 * compared with the cpu backend's (the tfjs compositions of linear-grad.ts and attention-grad.ts) within 1e-4, with
 * the tensor count unchanged afterwards; the kernels are checked to actually run (tf.profile), attention's result
 * not to depend on the thread count, and bad arguments to be refused in TypeScript before any native call.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackends, randomTensor, relativeErrorOf } from "../testing/backends.js";
import { attention } from "../ops/attention.js";
import { AttentionGrad, MaskedAttentionGrad } from "../ops/attention-grad.js";
import { linear } from "../ops/linear.js";
import { ActivationGrad } from "../ops/linear-grad.js";
import { ACTIVATIONS, type Activation } from "../ops/activations.js";
import { nativeHas } from "./addon.js";
import { nativeAttentionGrad, nativeUnavailableReason, setNativeThreads } from "./index.js";

const backends = await initBackends();
const stale = backends.includes("native") && !(nativeHas("activationGrad") && nativeHas("attentionGrad"));
const skip = !backends.includes("native")
  ? ` (skipped: ${nativeUnavailableReason() ?? "no native backend"})`
  : stale
    ? " (skipped: the built addon predates these kernels; run `npm run build:native -w @proj/tensor-kernels`)"
    : "";

/** Runs `f` on native and on cpu; the norm-wise relative error of each output, native against cpu. */
async function nativeVsCpu(f: () => tf.Tensor[]): Promise<number[]> {
  await tf.setBackend("native");
  const got = await Promise.all(tf.tidy(f).map(async (t) => {
    const data = await t.data();
    t.dispose();
    return data;
  }));
  await tf.setBackend("cpu");
  const want = tf.tidy(f);
  const errors = await Promise.all(want.map(async (t, i) => relativeErrorOf(got[i]!, await t.data())));
  tf.dispose(want);
  await tf.setBackend("native");
  return errors;
}

/** Names of the kernels that `f` runs on the active backend. */
async function kernelsRun(f: () => tf.Tensor[]): Promise<string[]> {
  const info = await tf.profile(() => tf.dispose(tf.tidy(f)));
  return info.kernels.map((k) => k.name);
}

describe.skipIf(skip !== "")(`native gradient kernels vs cpu${skip}`, () => {
  beforeAll(() => tf.setBackend("native"));
  afterAll(() => setNativeThreads(2));

  describe("linear's activation gradient (ProjActivationGrad)", () => {
    const cases = ACTIVATIONS.flatMap((a) => [[a, true, [6, 40], 24], [a, false, [2, 5, 33], 17]] as const);
    it.each(cases)("linear + %s (bias %s) x %j out %i: gradients match cpu within 1e-4", async (activation, withBias, xShape, outFeatures) => {
      const inFeatures = xShape[xShape.length - 1]!;
      const grads = () => {
        const x = randomTensor([...xShape], 1, 2);
        const w = randomTensor([inFeatures, outFeatures], 2, 0.4);
        const b = randomTensor([outFeatures], 3, 0.5);
        const probe = randomTensor([...xShape.slice(0, -1), outFeatures], 4);
        const options = { activation: activation as Activation };
        if (!withBias) return tf.grads((xs: tf.Tensor, ws: tf.Tensor) => tf.sum(tf.mul(linear(xs, ws, null, options), probe)))([x, w]);
        return tf.grads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(linear(xs, ws, bs, options), probe)))([x, w, b]);
      };
      const before = tf.memory().numTensors;
      const errors = await nativeVsCpu(grads);
      for (const error of errors) expect(error).toBeLessThanOrEqual(1e-4);
      expect(await kernelsRun(grads)).toContain(ActivationGrad);
      expect(tf.memory().numTensors).toBe(before);
    });

    it("refuses mismatched shapes and non-float32 input in JS", () => tf.tidy(() => {
      const x = tf.ones([2, 3]);
      const dy = tf.ones([3, 2]);
      expect(() => tf.engine().runKernel(ActivationGrad, { dy, x }, { activation: "gelu" })).toThrow(/dy must have shape \[2, 3\]/);
      const xi = tf.ones([2, 3], "int32");
      expect(() => tf.engine().runKernel(ActivationGrad, { dy: x, x: xi }, { activation: "gelu" })).toThrow(/float32/);
      expect(() => tf.engine().runKernel(ActivationGrad, { dy: x, x }, { activation: "relu" })).toThrow(/activation must be one of/);
    }));
  });

  describe("attention's fused backward (ProjAttentionGrad, ProjMaskedAttentionGrad)", () => {
    type MaskKind = "none" | "key padding [B,1,1,Tk]" | "[Tq,Tk]" | "full [B,H,Tq,Tk]" | "rows all −∞ [B,1,Tq,Tk]";
    // [B, H, Tq, Tk, D, causal, mask]
    const cases: [number, number, number, number, number, boolean, MaskKind][] = [
      [1, 1, 1, 1, 1, false, "none"],
      [2, 3, 5, 5, 8, false, "none"],
      [1, 2, 7, 11, 16, false, "none"], // Tq ≠ Tk
      [2, 12, 50, 50, 64, false, "none"], // ViT-B/32 per image
      [2, 2, 9, 9, 8, true, "none"],
      [1, 2, 4, 9, 8, true, "none"], // causal, Tq < Tk: the last keys seen by no query
      [1, 1, 9, 4, 8, true, "none"], // causal, Tq > Tk
      [2, 8, 77, 77, 64, true, "none"], // CLIP text
      [3, 2, 6, 10, 8, false, "key padding [B,1,1,Tk]"],
      [2, 2, 6, 6, 8, true, "key padding [B,1,1,Tk]"],
      [2, 3, 5, 7, 4, false, "[Tq,Tk]"],
      [2, 3, 5, 7, 4, false, "full [B,H,Tq,Tk]"],
      [2, 2, 5, 6, 4, false, "rows all −∞ [B,1,Tq,Tk]"],
    ];

    function makeMask(kind: MaskKind, b: number, h: number, tq: number, tk: number): tf.Tensor | undefined {
      switch (kind) {
        case "none":
          return undefined;
        case "key padding [B,1,1,Tk]": {
          // sample i drops its last i + 1 keys with −1e9 (a finite padding mask, as CLIP's tokenizer pads)
          const values = new Float32Array(b * tk);
          for (let i = 0; i < b; i++) values.fill(-1e9, i * tk + tk - 1 - i, (i + 1) * tk);
          return tf.tensor(values, [b, 1, 1, tk]);
        }
        case "[Tq,Tk]":
          return randomTensor([tq, tk], 11, 2);
        case "full [B,H,Tq,Tk]":
          return randomTensor([b, h, tq, tk], 12, 2);
        case "rows all −∞ [B,1,Tq,Tk]": {
          const values = randomTensor([b, 1, tq, tk], 13).dataSync().slice();
          values.fill(-Infinity, 2 * tk, 3 * tk); // query 2 of sample 0 sees no key: zero gradients
          values.fill(-Infinity, tq * tk + 4, tq * tk + tk); // sample 1, query 0 keeps keys 0–3 only
          return tf.tensor(values, [b, 1, tq, tk]);
        }
      }
    }

    it.each(cases)("B %i H %i Tq %i Tk %i D %i causal %s mask %s: dq, dk, dv match cpu within 1e-4", async (b, h, tq, tk, d, causal, maskKind) => {
      const grads = () => {
        const q = randomTensor([b, h, tq, d], 21);
        const k = randomTensor([b, h, tk, d], 22);
        const v = randomTensor([b, h, tk, d], 23);
        const probe = randomTensor([b, h, tq, d], 24);
        const mask = makeMask(maskKind, b, h, tq, tk);
        const loss = (qs: tf.Tensor, ks: tf.Tensor, vs: tf.Tensor) => tf.sum(tf.mul(attention(qs, ks, vs, { causal, mask }), probe));
        return tf.grads(loss)([q, k, v]);
      };
      const before = tf.memory().numTensors;
      const errors = await nativeVsCpu(grads);
      for (const error of errors) expect(error).toBeLessThanOrEqual(1e-4);
      expect(await kernelsRun(grads)).toContain(maskKind === "none" ? AttentionGrad : MaskedAttentionGrad);
      expect(tf.memory().numTensors).toBe(before);
    });

    it("the mask's own gradient (composed beside the kernel) matches cpu within 1e-4", async () => {
      const grads = () => {
        const q = randomTensor([2, 3, 5, 8], 31);
        const k = randomTensor([2, 3, 7, 8], 32);
        const v = randomTensor([2, 3, 7, 8], 33);
        const mask = randomTensor([2, 1, 5, 7], 34);
        const probe = randomTensor([2, 3, 5, 8], 35);
        return tf.grads((qs: tf.Tensor, ms: tf.Tensor) => tf.sum(tf.mul(attention(qs, k, v, { mask: ms }), probe)))([q, mask]);
      };
      const before = tf.memory().numTensors;
      for (const error of await nativeVsCpu(grads)) expect(error).toBeLessThanOrEqual(1e-4);
      expect(tf.memory().numTensors).toBe(before);
    });

    it("gives bit-identical gradients on 1 and 2 threads", async () => {
      const grads = () => {
        const [q, k, v] = [31, 32, 33].map((seed) => randomTensor([4, 12, 50, 64], seed));
        return tf.grads((qs: tf.Tensor, ks: tf.Tensor, vs: tf.Tensor) => tf.sum(tf.square(attention(qs, ks, vs, { causal: true }))))([q!, k!, v!]);
      };
      const results: Float32Array[][] = [];
      for (const threads of [1, 2]) {
        setNativeThreads(threads);
        const out = tf.tidy(grads);
        results.push(await Promise.all(out.map((t) => t.data() as Promise<Float32Array>)));
        tf.dispose(out);
      }
      results[1]!.forEach((data, i) => expect(data).toEqual(results[0]![i]));
    });

    it("refuses bad shapes and spans in JS before native code runs", () => tf.tidy(() => {
      const q = tf.ones([1, 2, 3, 4]);
      const k = tf.ones([1, 2, 5, 4]);
      const attrs = { scale: 0.5, causal: false };
      const run = (inputs: Record<string, tf.Tensor>, name = AttentionGrad) => () => tf.engine().runKernel(name, inputs, attrs);
      expect(run({ dy: tf.ones([1, 2, 3, 5]), q, k, v: k })).toThrow(/dy must have shape \[1, 2, 3, 4\]/);
      expect(run({ dy: q, q, k, v: tf.ones([1, 2, 4, 4]) })).toThrow(/v must have shape \[1, 2, 5, 4\]/);
      expect(run({ dy: q, q, k: tf.ones([1, 3, 5, 4]), v: tf.ones([1, 3, 5, 4]) })).toThrow(/k must have shape/);
      expect(run({ dy: tf.ones([2, 3, 4]), q: tf.ones([2, 3, 4]), k, v: k })).toThrow(/q must be \[B, H, Tq, D\]/);
      expect(run({ dy: q, q, k, v: k, mask: tf.ones([4, 5]) }, MaskedAttentionGrad)).toThrow(/not broadcastable/);
      expect(run({ dy: q, q: tf.ones([1, 2, 3, 4], "int32"), k, v: k })).toThrow(/float32/);

      const memory = new ArrayBuffer(4 * 100);
      const shape = { batch: 1, heads: 1, queries: 2, keys: 2, headSize: 4, scale: 1, causal: false };
      const spans = { q: 0, k: 32, v: 64, dout: 96, dq: 128, dk: 160, dv: 192 };
      expect(() => nativeAttentionGrad(memory, { ...shape, ...spans, dv: 380 })).toThrow(/extends past the end/);
      expect(() => nativeAttentionGrad(memory, { ...shape, ...spans, dq: 2 })).toThrow(/multiple of 4/);
      expect(() => nativeAttentionGrad(memory, { ...shape, ...spans, dk: 64 })).toThrow(/dk overlaps v/);
      expect(() => nativeAttentionGrad(memory, { ...shape, ...spans, dv: 144 })).toThrow(/dq overlaps dv/);
      expect(() => nativeAttentionGrad(memory, { ...shape, ...spans, heads: 0 })).toThrow(/heads must be an integer/);
      expect(() => nativeAttentionGrad(memory, { ...shape, ...spans, scale: NaN })).toThrow(/scale must be a finite/);
      expect(() => nativeAttentionGrad(memory, { ...shape, ...spans, mask: 224, maskStrides: [0, 0, 50, 1] })).toThrow(/mask .* extends past/);
      nativeAttentionGrad(memory, { ...shape, ...spans }); // the same call with valid spans runs
    }));
  });
});
