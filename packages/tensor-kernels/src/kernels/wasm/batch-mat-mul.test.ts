import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { randomTensor } from "../../testing/backends.js";
import { matMulShape, planTransposes } from "./batch-mat-mul.js";
import { leakOnWasm, setUpWasmGapKernels, wasmVsCpu } from "./test-support.js";

await setUpWasmGapKernels();

// [a shape, b shape, transposeA, transposeB]: odd sizes, every transpose pair, batches, broadcasting, vectors.
const cases: [number[], number[], boolean, boolean][] = [
  [[33, 17], [17, 29], false, false],
  [[33, 17], [29, 17], false, true],
  [[17, 33], [17, 29], true, false],
  [[17, 33], [29, 17], true, true],
  [[64, 48], [80, 48], false, true],
  [[1, 96], [200, 96], false, true], // vector × matrixᵀ: the result is transposed instead
  [[96, 1], [96, 200], true, false],
  [[96, 200], [96, 1], true, false], // matrix-vector: computed as (vᵀA)ᵀ
  [[4, 5], [3, 5], false, true], // too small to be worth moving: left to the naive loop
  [[3, 20, 16], [16, 12], false, false], // batched A, unbatched B: folded into rows
  [[3, 16, 20], [12, 16], true, true],
  [[2, 3, 20, 16], [2, 3, 12, 16], false, true], // batched both (attention's QKᵀ)
  [[4, 24, 16], [4, 24, 10], true, false],
  [[20, 16], [3, 16, 12], false, false], // unbatched A, batched B
  [[3, 64, 48], [3, 48, 50], false, false], // batched both, big enough for one GEMM call per matrix
  [[3, 64, 48], [3, 50, 48], false, true],
  [[64, 48], [3, 48, 50], false, false], // unbatched A, batched B, per matrix
  [[2, 3, 9, 16], [1, 1, 16, 7], false, false], // broadcast batch dims (tfjs broadcasts a batch of 1 only)
  [[1, 1, 16, 9], [2, 3, 7, 16], true, true],
];

describe("BatchMatMul on wasm (transposes materialised, batches folded or split)", () => {
  beforeAll(() => tf.setBackend("wasm"));

  it.each(cases)("matches cpu: [%s] × [%s], transposeA=%s, transposeB=%s", async (aShape, bShape, ta, tb) => {
    const before = tf.memory().numTensors;
    const { error } = await wasmVsCpu(() => tf.matMul(randomTensor(aShape, 1), randomTensor(bShape, 2), ta, tb));
    expect(error).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("moves the fewest elements", () => {
    const plan = (a: number[], b: number[], ta: boolean, tb: boolean) =>
      planTransposes(matMulShape({ shape: a } as tf.TensorInfo, { shape: b } as tf.TensorInfo, ta, tb), ta, tb, true);
    expect(plan([512, 512], [512, 512], false, true)).toBe("transposeOperands");
    expect(plan([512, 512], [512, 512], true, true)).toBe("transposeResult"); // moves C only
    expect(plan([1, 512], [512, 512], false, true)).toBe("transposeResult"); // moves A and C, vectors
    expect(plan([512, 512], [512, 1], true, false)).toBe("transposeResult"); // moves b and C, vectors
    expect(plan([4, 4], [4, 4], false, true)).toBe("original"); // 8 flops per moved element
  });

  it("has gradients equal to cpu's (they are transposed matmuls)", async () => {
    for (const i of [0, 1]) {
      const { error } = await wasmVsCpu(() => {
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.sin(tf.matMul(a, b))) as tf.Scalar;
        return tf.grads(f)([randomTensor([2, 31, 18], 3), randomTensor([2, 18, 23], 4)])[i]!;
      });
      expect(error).toBeLessThanOrEqual(1e-5);
    }
  });

  it("leaks no tensor and no heap buffer on any path", async () => {
    for (const [aShape, bShape, ta, tb] of [1, 3, 5, 8, 9, 10, 11, 14, 16].map((i) => cases[i]!)) {
      expect(await leakOnWasm(() => tf.matMul(randomTensor(aShape, 1), randomTensor(bShape, 2), ta, tb))).toEqual({ tensors: 0, buffers: 0 });
    }
  });
});

describe("_FusedMatMul on wasm", () => {
  beforeAll(() => tf.setBackend("wasm"));

  const activations = ["linear", "relu", "relu6", "sigmoid", "elu", "leakyrelu", "prelu"] as const;

  it.each(activations)("matches cpu with bias and %s, transposed, batched and folded", async (activation) => {
    for (const [aShape, bShape, ta, tb] of [1, 2, 7, 8, 9, 11, 14].map((i) => cases[i]!)) {
      const n = tb ? bShape[bShape.length - 2]! : bShape[bShape.length - 1]!;
      const { error } = await wasmVsCpu(() =>
        tf.fused.matMul({
          a: randomTensor(aShape, 5),
          b: randomTensor(bShape, 6),
          transposeA: ta,
          transposeB: tb,
          bias: randomTensor([n], 7),
          activation,
          preluActivationWeights: activation === "prelu" ? randomTensor([n], 8, 0.2) : undefined,
          leakyreluAlpha: 0.1,
        }),
      );
      expect(error).toBeLessThanOrEqual(1e-5);
    }
  });

  it("leaks no tensor and no heap buffer", async () => {
    const compute = () => tf.fused.matMul({ a: randomTensor([2, 9, 8], 1), b: randomTensor([2, 8, 5], 2), bias: randomTensor([5], 3), activation: "relu" });
    expect(await leakOnWasm(compute)).toEqual({ tensors: 0, buffers: 0 });
  });
});
