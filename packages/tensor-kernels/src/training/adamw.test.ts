import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, defaultWeightDecayMask } from "./adamw.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** PyTorch's AdamW on plain arrays (torch/optim/adamw.py, single-tensor path), in double precision. */
function referenceAdamW(
  param: number[],
  grads: number[][],
  lrs: number[],
  { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = {},
): number[] {
  const p = [...param];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, i) => {
    const t = i + 1;
    const lr = lrs[i]!;
    for (let j = 0; j < p.length; j++) {
      p[j]! *= 1 - lr * weightDecay;
      m[j] = beta1 * m[j]! + (1 - beta1) * g[j]!;
      v[j] = beta2 * v[j]! + (1 - beta2) * g[j]! ** 2;
      const mHat = m[j]! / (1 - beta1 ** t);
      const vHat = v[j]! / (1 - beta2 ** t);
      p[j]! -= (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  });
  return p;
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), `element ${i}`).toBeLessThanOrEqual(tol);
};

describe("AdamW", () => {
  const initial = [0.5, -1.25, 2, 0.1, -0.3, 0.75];
  const gradSeq = [
    [0.1, -0.2, 0.3, 0.05, -0.5, 1],
    [-0.3, 0.1, 0.2, 0.0, 0.4, -0.6],
    [0.05, 0.05, -0.1, 0.2, 0.1, 0.3],
  ];
  const lrs = [0.01, 0.02, 0.005];

  it("matches PyTorch's AdamW update with decay (weight) and without (bias)", () => {
    const weight = tf.variable(tf.tensor2d(initial, [2, 3]));
    const bias = tf.variable(tf.tensor1d(initial));
    const optimizer = new AdamW(new Map<string, tf.Variable>([["layer.weight", weight], ["layer.bias", bias]]), { weightDecay: 0.1, betas: [0.9, 0.98], epsilon: 1e-6 });
    expect(optimizer.decaysWeight("layer.weight")).toBe(true);
    expect(optimizer.decaysWeight("layer.bias")).toBe(false);
    const before = tf.memory().numTensors;
    for (let i = 0; i < gradSeq.length; i++) {
      const gw = tf.tensor2d(gradSeq[i]!, [2, 3]);
      const gb = tf.tensor1d(gradSeq[i]!);
      optimizer.step(new Map<string, tf.Tensor>([["layer.weight", gw], ["layer.bias", gb]]), lrs[i]!);
      tf.dispose([gw, gb]);
      if (i === 0) expect(tf.memory().numTensors).toBe(before + 4); // the moments, made once
    }
    expect(tf.memory().numTensors).toBe(before + 4);
    close(weight.dataSync(), referenceAdamW(initial, gradSeq, lrs, { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 }), 1e-6);
    close(bias.dataSync(), referenceAdamW(initial, gradSeq, lrs, { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0 }), 1e-6);
    expect(optimizer.stepCount).toBe(3);
    optimizer.dispose();
    tf.dispose([weight, bias]);
  });

  it("exports and imports its state: a resumed optimizer continues exactly", () => {
    const run = (resumeAt: number | undefined) => {
      const w = tf.tidy(() => tf.variable(tf.tensor2d(initial, [3, 2])));
      let optimizer = new AdamW(new Map([["w", w]]));
      for (let i = 0; i < gradSeq.length; i++) {
        if (i === resumeAt) {
          const state = optimizer.exportState();
          expect([...state.keys()].sort()).toEqual(["m/w", "step", "v/w"]);
          optimizer.dispose();
          optimizer = new AdamW(new Map([["w", w]]));
          optimizer.importState(state);
          tf.dispose([...state.values()]);
        }
        const g = tf.tensor2d(gradSeq[i]!, [3, 2]);
        optimizer.step({ w: g }, lrs[i]!);
        g.dispose();
      }
      const out = w.dataSync().slice();
      optimizer.dispose();
      w.dispose();
      return out;
    };
    const before = tf.memory().numTensors;
    expect(Array.from(run(2))).toEqual(Array.from(run(undefined)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("names what does not fit", () => {
    const w = tf.variable(tf.zeros([2, 2]));
    const optimizer = new AdamW(new Map([["w", w]]));
    const wrong = tf.zeros([3]);
    expect(() => optimizer.step({ w: wrong }, 0.1)).toThrow(/gradient of w has shape \[3\], parameter \[2, 2\]/);
    expect(() => optimizer.step({ x: wrong }, 0.1)).toThrow(/unknown parameter x/);
    expect(() => optimizer.step({}, -1)).toThrow(/learningRate/);
    expect(() => optimizer.importState(new Map([["step", tf.scalar(1, "int32")], ["m/w", wrong]]))).toThrow(/m\/w has shape \[3\]/);
    expect(() => new AdamW(new Map([["w", w]]), { betas: [1, 0.9] })).toThrow(/β₁/);
    expect(optimizer.stepCount).toBe(0);
    tf.disposeVariables();
    wrong.dispose();
  });

  it("decays no gains, biases, embeddings, 1-D parameters or logit scale by default", () => {
    const decays = (name: string, shape: number[]) => defaultWeightDecayMask(name, shape);
    expect(decays("transformer.resblocks.0.attn.in_proj_weight", [8, 24])).toBe(true);
    expect(decays("transformer.resblocks.0.mlp.c_fc.weight", [8, 32])).toBe(true);
    expect(decays("visual.conv1.weight", [4, 4, 3, 8])).toBe(true);
    expect(decays("visual.proj", [8, 4])).toBe(true);
    expect(decays("text_projection", [8, 4])).toBe(true);
    expect(decays("transformer.resblocks.0.attn.in_proj_bias", [24])).toBe(false);
    expect(decays("visual.ln_pre.weight", [8])).toBe(false);
    expect(decays("token_embedding.weight", [100, 8])).toBe(false);
    expect(decays("positional_embedding", [77, 8])).toBe(false);
    expect(decays("visual.class_embedding", [8])).toBe(false);
    expect(decays("logit_scale", [])).toBe(false);
    expect(decays("visual.layer1.0.bn1.weight", [1, 8])).toBe(false);
  });
});
