/**
 * Training on tfjs-backend-wasm with the gap kernels: a small conv net with an embedding layer learns a fixed
 * synthetic task, and its gradients equal the cpu backend's.
 *
 * Task (4 classes, label = 2·bar + word): an 8×8 image holds one bright bar, horizontal (bar = 0) or vertical
 * (bar = 1), at a random place over noise; a 6-token sentence holds one marker token from group 0 or group 1 (word)
 * among filler tokens. So the net needs both the conv path (conv2d → Conv2DBackpropFilter/Input) and the embedding
 * path (gather → UnsortedSegmentSum) to learn it.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { describe, expect, it } from "vitest";
import { registerWasmGapKernels, unregisterWasmGapKernels } from "../kernels/wasm/gap-kernels.js";
import { relativeErrorOf as relativeError } from "../testing/backends.js";

const BATCH = 32;
const SIZE = 8; // image side
const TOKENS = 6;
const VOCAB = 20; // 0–3: group-0 markers, 4–7: group-1 markers, 8–19: filler
const EMBED = 8;
const CLASSES = 4;

/** xorshift32 in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

interface Batch {
  images: Float32Array; // [B, 8, 8, 1]
  tokens: Int32Array; // [B, 6]
  labels: Int32Array; // [B]
}

function syntheticBatch(seed: number): Batch {
  const rand = random(seed);
  const images = new Float32Array(BATCH * SIZE * SIZE);
  const tokens = new Int32Array(BATCH * TOKENS);
  const labels = new Int32Array(BATCH);
  for (let b = 0; b < BATCH; b++) {
    const bar = b % 2;
    const word = (b >> 1) % 2;
    labels[b] = 2 * bar + word;
    const at = 1 + Math.floor(rand() * (SIZE - 2));
    for (let i = 0; i < SIZE * SIZE; i++) images[b * SIZE * SIZE + i] = 0.3 * (rand() - 0.5);
    for (let j = 0; j < SIZE; j++) images[b * SIZE * SIZE + (bar === 0 ? at * SIZE + j : j * SIZE + at)]! += 1;
    for (let t = 0; t < TOKENS; t++) tokens[b * TOKENS + t] = 8 + Math.floor(rand() * 12);
    tokens[b * TOKENS + Math.floor(rand() * TOKENS)] = 4 * word + Math.floor(rand() * 4);
  }
  return { images, tokens, labels };
}

/** Initial weights as plain arrays, so that each backend starts from the same numbers. */
function initialWeights(seed: number): Record<string, { shape: number[]; values: Float32Array }> {
  const rand = random(seed);
  const make = (shape: number[], scale: number) => ({
    shape,
    values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rand() - 0.5) * 2 * scale),
  });
  return {
    embedding: make([VOCAB, EMBED], 0.5), // [V, E]
    conv1: make([3, 3, 1, 8], 0.5), // [FH, FW, Cin, Cout]
    conv2: make([3, 3, 8, 16], 0.2),
    dense: make([16 + EMBED, CLASSES], 0.3),
    bias: make([CLASSES], 0),
  };
}

type Params = Record<string, tf.Variable>;

let made = 0; // variable names must be unique within the process

function makeParams(seed: number): Params {
  made++;
  const params: Params = {};
  for (const [name, { shape, values }] of Object.entries(initialWeights(seed))) {
    params[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape), true, `wasm_training_${made}_${name}`));
  }
  return params;
}

/** Mean softmax cross-entropy of the net on `batch`. */
function loss(p: Params, images: tf.Tensor4D, tokens: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const h1 = tf.relu(tf.conv2d(images, p.conv1 as tf.Tensor4D, 1, "same")); // [B, 8, 8, 8]
    const h2 = tf.relu(tf.conv2d(h1, p.conv2 as tf.Tensor4D, 2, "same")); // [B, 4, 4, 16]
    const pooled = tf.max(h2, [1, 2]); // [B, 16]
    const words = tf.max(tf.gather(p.embedding!, tokens), 1); // [B, T, E] → [B, E]
    const logits = tf.add(tf.matMul(tf.concat([pooled, words], 1), p.dense!), p.bias!); // [B, 4]
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, CLASSES), logits) as tf.Scalar;
  });
}

function inputsOf(batch: Batch) {
  return {
    images: tf.tensor4d(batch.images, [BATCH, SIZE, SIZE, 1]),
    tokens: tf.tensor2d(batch.tokens, [BATCH, TOKENS], "int32"),
    labels: tf.tensor1d(batch.labels, "int32"),
  };
}

/** Gradients of the loss at the initial weights on `backend`, read back as arrays. */
async function gradientsOn(backend: string): Promise<Record<string, Float32Array>> {
  await tf.setBackend(backend);
  const params = makeParams(7);
  const { images, tokens, labels } = inputsOf(syntheticBatch(1));
  const { grads, value } = tf.variableGrads(() => loss(params, images, tokens, labels));
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(params)) out[name] = (await grads[v.name]!.data()) as Float32Array;
  tf.dispose([value, ...Object.values(grads), ...Object.values(params), images, tokens, labels]);
  return out;
}

await tf.setBackend("cpu");
await tf.setBackend("wasm");
registerWasmGapKernels();

describe("training on wasm", () => {
  it("cannot take a conv or embedding gradient without the gap kernels", async () => {
    unregisterWasmGapKernels();
    try {
      await expect(gradientsOn("wasm")).rejects.toThrow(/Conv2DBackpropFilter|UnsortedSegmentSum/);
    } finally {
      registerWasmGapKernels();
      tf.disposeVariables();
    }
  });

  it("has every gradient equal to cpu's within 1e-4 (conv2d weights included)", async () => {
    const cpu = await gradientsOn("cpu");
    const wasm = await gradientsOn("wasm");
    for (const name of Object.keys(cpu)) {
      expect(wasm[name]!.length, name).toBe(cpu[name]!.length);
      expect(relativeError(wasm[name]!, cpu[name]!), name).toBeLessThanOrEqual(1e-4);
    }
    // Not a vacuous comparison: the conv weight gradients are far from zero.
    expect(Math.max(...Array.from(cpu.conv1!, Math.abs))).toBeGreaterThan(1e-3);
    expect(Math.max(...Array.from(cpu.conv2!, Math.abs))).toBeGreaterThan(1e-3);
  });

  it("learns the task with Adam in 30 steps (loss < 0.5 × initial, on unseen data too), without leaking", async () => {
    await tf.setBackend("wasm");
    const params = makeParams(7);
    const { images, tokens, labels } = inputsOf(syntheticBatch(1));
    const heldOut = inputsOf(syntheticBatch(2));
    const heldOutLoss = () => tf.tidy(() => loss(params, heldOut.images, heldOut.tokens, heldOut.labels).dataSync()[0]!);
    const heldOutBefore = heldOutLoss();
    const optimizer = tf.train.adam(0.03);
    const losses: number[] = [];
    let tensorsAfterFirstStep = 0;
    for (let step = 0; step < 30; step++) {
      const value = optimizer.minimize(() => loss(params, images, tokens, labels), true, Object.values(params))!;
      losses.push((await value.data())[0]!);
      value.dispose();
      if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors; // Adam's slots now exist
    }
    expect(tf.memory().numTensors).toBe(tensorsAfterFirstStep);
    const initial = losses[0]!;
    const final = losses[losses.length - 1]!;
    console.log(`wasm training loss: ${losses.map((l) => l.toFixed(3)).join(" ")}`);
    expect(Number.isFinite(final)).toBe(true);
    expect(final).toBeLessThan(0.5 * initial);
    expect(heldOutLoss()).toBeLessThan(0.5 * heldOutBefore);
    optimizer.dispose();
    tf.dispose([images, tokens, labels, ...Object.values(heldOut)]);
    tf.dispose(Object.values(params));
  });
});
