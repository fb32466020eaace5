import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../register.js";
import { compiledPipelines, initBackends, randomTensor, relativeError, useBackend } from "../testing/backends.js";
import { linearF64 } from "../testing/reference-linear.js";
import {
  activationDerivative,
  activationScalar,
  applyActivation,
  erf,
  geluDerivativeScalar,
  geluScalar,
  quickGeluDerivativeScalar,
  quickGeluScalar,
  siluDerivativeScalar,
  siluScalar,
  type Activation,
} from "./activations.js";
import { hasKernel } from "./dispatch.js";
import { Linear, linear, LinearNoBias, linearReference } from "./linear.js";

const backends = await initBackends();
const activations: (Activation | undefined)[] = [undefined, "quickGelu", "gelu", "silu"];
const activationCases = activations.map((a) => [a ?? "none", a] as const);

/** [x shape, out features]: non-multiples of the 32 × 32 WebGPU tile and of its K step, and CLIP's K. */
const shapes: [number[], number][] = [
  [[5], 7], // a rank-1 x is one row
  [[2, 77, 96], 257], // M = 154, K = 96, N = 257
  [[33, 64], 128],
  [[3, 5, 17], 31],
  [[4, 768], 64], // K = 768 (ViT-B MLP in), float32 accumulation
  [[2, 3072], 40], // K = 3072 (ViT-B MLP out)
];

/** x ~ U(−1, 1), W ~ U(−1, 1)/√K so that x·W is O(1) (where the activations bend), b ~ U(−0.5, 0.5). */
function operands(xShape: number[], outFeatures: number, seed: number) {
  const inFeatures = xShape[xShape.length - 1]!;
  const x = randomTensor(xShape, seed);
  const weight = randomTensor([inFeatures, outFeatures], seed + 1, 1 / Math.sqrt(inFeatures));
  const bias = randomTensor([outFeatures], seed + 2, 0.5);
  return { x, weight, bias, inFeatures };
}

function numDataIds(): number {
  return tf.engine().backend.numDataIds();
}

describe.each(backends)("linear on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("has fused kernels", () => {
    expect(hasKernel(Linear)).toBe(true);
    expect(hasKernel(LinearNoBias)).toBe(true);
  });

  describe.each(activationCases)("activation %s", (_name, activation) => {
    it.each(shapes.flatMap(([s, n]) => [[s, n, true], [s, n, false]] as const))(
      "matches a float64 reference at x [%s], out %i, bias %s within 1e-4 relative",
      async (xShape, outFeatures, withBias) => {
        const { x, weight, bias, inFeatures } = operands(xShape, outFeatures, 11);
        const tensorsBefore = tf.memory().numTensors;
        const dataBefore = numDataIds();
        const y = linear(x, weight, withBias ? bias : undefined, { activation });
        expect(y.shape).toEqual([...xShape.slice(0, -1), outFeatures]);
        const expected = linearF64(await x.data(), await weight.data(), withBias ? await bias.data() : null, inFeatures, outFeatures, activation ?? "none");
        // Measured (all backends, H100 WebGPU too): ≤ 1.7e-6 at K = 3072 (float32 accumulation), ≤ 5e-7 for K ≤ 96.
        expect(await relativeError(y, expected)).toBeLessThanOrEqual(1e-4);
        y.dispose();
        expect(tf.memory().numTensors).toBe(tensorsBefore);
        expect(numDataIds()).toBe(dataBefore);
        tf.dispose([x, weight, bias]);
      },
    );

    it("is exact to f32 rounding over extreme pre-activations (x·I, x from −100 to 100)", async () => {
      const values = [-100, -50, -20, -10, -5, -2, -1, -0.1, 0, 0.1, 1, 2, 5, 10, 20, 100, -88, 88, -3.3, 7.7];
      const x = tf.tensor2d([values]);
      const eye = tf.eye(values.length);
      const y = linear(x, eye, null, { activation });
      const got = await y.data();
      const act = activationScalar(activation ?? "none");
      values.forEach((v, i) => expect(Math.abs(got[i]! - act(v))).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(act(v)))));
      tf.dispose([x, eye, y]);
    });

    it.each([
      [[0, 4], 3],
      [[2, 0], 3],
      [[2, 4], 0],
    ] as const)("handles empty operands: x [%s], out %i", async (xShape, outFeatures) => {
      const k = xShape[1];
      const [x, weight, bias] = [tf.ones([...xShape]), tf.ones([k, outFeatures]), tf.fill([outFeatures], 0.5)];
      const y = linear(x, weight, bias, { activation });
      expect(y.shape).toEqual([xShape[0], outFeatures]);
      const got = await y.data();
      expect(got.length).toBe(xShape[0] * outFeatures);
      const act = activationScalar(activation ?? "none");
      for (const v of got) expect(Math.abs(v - act(0.5))).toBeLessThanOrEqual(1e-6); // an empty sum + b: act(0.5)
      tf.dispose([x, weight, bias, y]);
    });

    it.each([
      [[6, 20], true],
      [[6, 20], false],
      [[2, 5, 20], true],
      [[2, 5, 20], false],
    ] as const)("has gradients equal to autodiff of the composition at x [%s], bias %s", async (xShape, withBias) => {
      const { x, weight, bias } = operands([...xShape], 13, 21);
      const probe = randomTensor([...xShape.slice(0, -1), 13], 24); // loss = Σ y ⊙ probe, so dy = probe
      const tensorsBefore = tf.memory().numTensors;
      const loss = (f: typeof linearReference) => (...args: tf.Tensor[]) =>
        tf.sum(tf.mul(f(args[0]!, args[1]!, withBias ? args[2] : undefined, activation), probe)) as tf.Scalar;
      const inputs = withBias ? [x, weight, bias] : [x, weight];
      const fused = tf.grads(loss((a, w, b, act) => linear(a, w, b, { activation: act })))(inputs);
      const plain = tf.grads(loss(linearReference))(inputs);
      expect(fused.map((g) => g.shape)).toEqual(inputs.map((t) => t.shape));
      for (let i = 0; i < inputs.length; i++) expect(await relativeError(fused[i]!, plain[i]!)).toBeLessThanOrEqual(1e-4);
      tf.dispose([...fused, ...plain]);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      tf.dispose([x, weight, bias, probe]);
    });
  });
});

describe.runIf(backends.includes("webgpu"))("linear WebGPU program cache", () => {
  beforeAll(() => useBackend("webgpu"));

  it("compiles once per (activation, bias, rank), whatever the sizes", async () => {
    // Ranks 4 and 5 of x: programs that the conformance tests above did not compile.
    const run = async (xShape: number[], outFeatures: number, activation: Activation | undefined, withBias = true) => {
      const y = tf.tidy(() => {
        const k = xShape[xShape.length - 1]!;
        return linear(tf.ones(xShape), tf.ones([k, outFeatures]), withBias ? tf.zeros([outFeatures]) : null, { activation });
      });
      await y.data();
      y.dispose();
    };
    await run([1, 1, 3, 5], 7, "gelu");
    const afterFirst = compiledPipelines("projLinear");
    for (const [shape, n] of [[[2, 1, 70, 33], 65], [[1, 1, 1, 3], 1], [[1, 2, 20, 100], 3]] as const) await run([...shape], n, "gelu");
    expect(compiledPipelines("projLinear")).toBe(afterFirst);
    await run([1, 1, 3, 5], 7, "silu"); // another activation is another program
    expect(compiledPipelines("projLinear")).toBe(afterFirst + 1);
    await run([1, 1, 3, 5], 7, "silu", false); // so is leaving out the bias
    expect(compiledPipelines("projLinear")).toBe(afterFirst + 2);
    await run([1, 1, 1, 3, 5], 7, "silu", false); // and a new rank of x
    expect(compiledPipelines("projLinear")).toBe(afterFirst + 3);
  });
});

describe("linear fallback composition (no kernel registered)", () => {
  const saved = [Linear, LinearNoBias].map((name) => tf.getKernel(name, "cpu")!);

  beforeAll(async () => {
    await useBackend("cpu");
    for (const config of saved) tf.unregisterKernel(config.kernelName, "cpu");
  });
  afterAll(() => {
    for (const config of saved) tf.registerKernel(config);
  });

  it.each(activationCases)("computes linear with activation %s from tfjs ops, with and without bias", async (_name, activation) => {
    expect(hasKernel(Linear)).toBe(false);
    const { x, weight, bias, inFeatures } = operands([2, 7, 40], 19, 31);
    for (const b of [bias, null]) {
      const tensorsBefore = tf.memory().numTensors;
      const y = linear(x, weight, b, { activation });
      const expected = linearF64(await x.data(), await weight.data(), b ? await b.data() : null, inFeatures, 19, activation ?? "none");
      expect(y.shape).toEqual([2, 7, 19]);
      expect(await relativeError(y, expected)).toBeLessThanOrEqual(1e-4);
      y.dispose();
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    }
    tf.dispose([x, weight, bias]);
  });
});

describe("activations", () => {
  beforeAll(() => useBackend("cpu"));

  // erf(x) from mpmath (mp.dps = 30), rounded to the nearest double.
  const erfTable: [number, number][] = [
    [0, 0],
    [1e-8, 1.1283791670955126e-8],
    [0.05, 0.05637197779701662],
    [0.25, 0.27632639016823696],
    [0.5, 0.5204998778130465],
    [0.75, 0.7111556336535151],
    [1, 0.8427007929497149],
    [1.25, 0.9229001282564583],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [2.5, 0.999593047982555],
    [3, 0.9999779095030014],
    [3.5, 0.9999992569016276],
    [4, 0.9999999845827421],
    [4.5, 0.9999999998033839],
    [5, 0.9999999999984626],
    [6, 1],
    [-0.3, -0.32862675945912745],
    [-1.7, -0.9837904585907745],
    [-3.2, -0.9999939742388483],
  ];

  it("erf is within 1e-10 of mpmath", () => {
    for (const [x, expected] of erfTable) expect(Math.abs(erf(x) - expected)).toBeLessThanOrEqual(1e-10);
    expect(erf(40)).toBe(1);
    expect(erf(-40)).toBe(-1);
  });

  it.each([
    ["quickGelu", quickGeluScalar, quickGeluDerivativeScalar],
    ["gelu", geluScalar, geluDerivativeScalar],
    ["silu", siluScalar, siluDerivativeScalar],
  ] as const)("host %s' matches a central difference", (_name, f, df) => {
    const h = 1e-5;
    for (let x = -6; x <= 6; x += 0.37) expect(Math.abs(df(x) - (f(x + h) - f(x - h)) / (2 * h))).toBeLessThanOrEqual(1e-8);
  });

  it.each([
    ["quickGelu", quickGeluScalar],
    ["gelu", geluScalar],
    ["silu", siluScalar],
  ] as const)("the tfjs %s composition and its derivative match the host scalar and tfjs autodiff", async (name, f) => {
    const x = tf.linspace(-8, 8, 301);
    const xs = await x.data();
    const y = applyActivation(x, name);
    expect(await relativeError(y, Array.from(xs, f))).toBeLessThanOrEqual(1e-6);
    const explicit = activationDerivative(x, name);
    const autodiff = tf.grad((t: tf.Tensor) => applyActivation(t, name))(x);
    expect(await relativeError(explicit, autodiff)).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, y, explicit, autodiff]);
  });
});

describe("linear input checks", () => {
  beforeAll(() => useBackend("cpu"));

  it.each([
    ["in-features mismatch", () => linear(tf.zeros([2, 96]), tf.zeros([64, 128]), null), "linear: x has 96 input features but weight is [64, 128]"],
    ["scalar x", () => linear(tf.scalar(1), tf.zeros([1, 4]), null), "linear: x must have rank ≥ 1, got shape []"],
    ["rank-3 weight", () => linear(tf.zeros([2, 4]), tf.zeros([1, 4, 3]), null), "linear: weight must have rank 2, got shape [1, 4, 3]"],
    ["rank-1 weight", () => linear(tf.zeros([2, 4]), tf.zeros([4]), null), "linear: weight must have rank 2, got shape [4]"],
    ["bias of the wrong length", () => linear(tf.zeros([2, 4]), tf.zeros([4, 3]), tf.zeros([4])), "linear: bias must have shape [3] (the output features of weight), got [4]"],
    ["rank-2 bias", () => linear(tf.zeros([2, 4]), tf.zeros([4, 3]), tf.zeros([1, 3])), "linear: bias must have shape [3] (the output features of weight), got [1, 3]"],
    ["integer x", () => linear(tf.zeros([2, 4], "int32"), tf.zeros([4, 3]), null), "linear: x must be float32, got int32"],
    ["integer weight", () => linear(tf.zeros([2, 4]), tf.zeros([4, 3], "int32"), null), "linear: weight must be float32, got int32"],
    ["integer bias", () => linear(tf.zeros([2, 4]), tf.zeros([4, 3]), tf.zeros([3], "int32")), "linear: bias must be float32, got int32"],
    ["unknown activation", () => linear(tf.zeros([2, 4]), tf.zeros([4, 3]), null, { activation: "relu" as never }), 'linear: activation must be one of "quickGelu", "gelu", "silu" or undefined (none), got "relu"'],
    ["not a tensor", () => linear([1, 2] as never, tf.zeros([2, 3]), null), "linear: x must be a tf.Tensor"],
    ["bias not a tensor", () => linear(tf.zeros([2, 2]), tf.zeros([2, 3]), [0, 0, 0] as never), "linear: bias must be a tf.Tensor"],
  ])("%s", (_name, call, message) => {
    expect(() => tf.tidy(call)).toThrow(message);
  });
});
