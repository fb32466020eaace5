import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_LOGIT_SCALE, contrastiveAccuracy, contrastiveLoss } from "./contrastive-loss.js";

beforeAll(async () => {
  await tf.setBackend("wasm");
});

// Reference values from numpy (float64): normalise rows, logits = exp(min(s, log 100)) · Î T̂ᵀ,
// loss = ½ (CE(logits) + CE(logitsᵀ)) with the diagonal as targets.
const IMAGES = [[1.0, 2.0, -0.5], [0.3, -1.0, 2.0], [-1.5, 0.2, 0.7], [0.0, 1.0, 1.0]];
const TEXTS = [[0.9, 2.2, -0.1], [0.5, -0.8, 1.5], [-1.0, 0.0, 1.2], [1.0, 0.5, 0.2]];
const NUMPY = [
  { s: Math.log(1 / 0.07), loss: 0.9119206118260839 },
  { s: 0, loss: 0.9408012784903068 },
  { s: 6, loss: 6.033198311009251 }, // clamped: exp(6) > 100
  { s: Math.log(MAX_LOGIT_SCALE), loss: 6.033198311009251 },
];

describe("contrastiveLoss", () => {
  it("equals numpy's symmetric cross-entropy on fixed features (temperature clamped at 100)", () => {
    const images = tf.tensor2d(IMAGES);
    const texts = tf.tensor2d(TEXTS);
    const before = tf.memory().numTensors;
    for (const { s, loss } of NUMPY) {
      const scale = tf.scalar(s);
      const value = contrastiveLoss(images, texts, scale);
      expect(value.dataSync()[0]).toBeCloseTo(loss, 5);
      tf.dispose([scale, value]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, texts]);
  });

  it("has the gradient of a learnable temperature below the clamp, and none above it", () => {
    const images = tf.tensor2d(IMAGES);
    const texts = tf.tensor2d(TEXTS);
    const gradAt = (s: number) => tf.tidy(() => tf.grad((x: tf.Tensor) => contrastiveLoss(images, texts, x as tf.Scalar))(tf.scalar(s)).dataSync()[0]!);
    const h = 1e-2;
    const s0 = Math.log(1 / 0.07);
    const numeric = (NUMPY[0]!.loss - contrastiveLossAt(s0 - h)) / h;
    expect(gradAt(s0)).toBeCloseTo(numeric, 1);
    expect(gradAt(6)).toBe(0);
    tf.dispose([images, texts]);
    function contrastiveLossAt(s: number): number {
      return tf.tidy(() => contrastiveLoss(images, texts, tf.scalar(s)).dataSync()[0]!);
    }
  });

  it("scores matching-pair accuracy in both directions", () => {
    const images = tf.tensor2d([[1, 0], [0, 1], [1, 1]]);
    const texts = tf.tensor2d([[1, 0.1], [0.1, 1], [-1, 0]]); // pairs 0 and 1 match; 2 does not
    const accuracy = contrastiveAccuracy(images, texts);
    // image→text: 0→0, 1→1, 2→0 or 1 (2 of 3); text→image: 0→0, 1→1, 2→0 (2 of 3)
    expect(accuracy.dataSync()[0]).toBeCloseTo(2 / 3, 6);
    tf.dispose([images, texts, accuracy]);
  });

  it("rejects batches that cannot be contrasted", () => {
    const one = tf.zeros([1, 3]) as tf.Tensor2D;
    const two = tf.zeros([2, 3]) as tf.Tensor2D;
    const wide = tf.zeros([2, 4]) as tf.Tensor2D;
    const scale = tf.scalar(1);
    expect(() => contrastiveLoss(one, one, scale)).toThrow(/at least 2 pairs/);
    expect(() => contrastiveLoss(two, tf.zeros([3, 3]) as tf.Tensor2D, scale)).toThrow(/2 images but 3 captions/);
    expect(() => contrastiveLoss(two, wide, scale)).toThrow(/width 3, text features 4/);
    tf.dispose([one, two, wide, scale]);
  });
});
