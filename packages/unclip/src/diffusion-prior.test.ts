import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { CheckpointError, parseSafetensors, serializeSafetensors, toFloat32 } from "@proj/clip";
import { afterAll, describe, expect, it } from "vitest";
import { dropConditioning } from "./conditioning.js";
import { DiffusionPrior, PRIOR_FORMAT, SMALL_PRIOR, TINY_PRIOR } from "./diffusion-prior.js";
import { directionalDerivativeError, gradientsByKey, noised, relativeError, seededNormal, take } from "./testing/helpers.js";

afterAll(() => tf.disposeVariables());

const E = TINY_PRIOR.clipEmbedDim;

function priorInputs(batch: number, seed: number, tokens = 5) {
  return {
    z: seededNormal([batch, E], seed, 1 / Math.sqrt(E)) as tf.Tensor2D,
    textEmbeddings: seededNormal([batch, E], seed + 1, 1 / Math.sqrt(E)) as tf.Tensor2D,
    textTokens: seededNormal([batch, tokens, TINY_PRIOR.textTokenDim], seed + 2) as tf.Tensor3D,
    timesteps: Array.from({ length: batch }, (_, i) => 10 + 200 * i),
  };
}

describe("DiffusionPrior", () => {
  it("has the preset parameter counts", async () => {
    await tf.setBackend("cpu");
    const counts = Object.fromEntries(
      Object.entries({ TINY_PRIOR, SMALL_PRIOR }).map(([name, config]) => {
        const prior = new DiffusionPrior(config);
        const count = prior.parameterCount();
        prior.dispose();
        return [name, count];
      }),
    );
    expect(counts).toEqual({ TINY_PRIOR: 31744, SMALL_PRIOR: 3542784 });
  });

  it("predicts a clean embedding per row, with and without text tokens, leaking nothing", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    const prior = new DiffusionPrior(TINY_PRIOR, { seed: 1 });
    const { z, textEmbeddings, textTokens, timesteps } = priorInputs(3, 1);
    const textMask = tf.ones([3, 5]) as tf.Tensor2D;
    const tensors = tf.memory().numTensors;
    const a = prior.forward(z, timesteps, { textEmbeddings, textTokens, textMask });
    const b = prior.forward(z, timesteps, { textEmbeddings });
    expect(a.shape).toEqual([3, E]);
    expect(b.shape).toEqual([3, E]);
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([z, textEmbeddings, textTokens, textMask]);
    prior.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("treats dropped text as the null condition: the learned null embedding and no visible text tokens", async () => {
    await tf.setBackend("cpu");
    const prior = new DiffusionPrior(TINY_PRIOR).initialise(2);
    const { z, textEmbeddings, textTokens, timesteps } = priorInputs(2, 3);
    const dropped = await take(prior.forward(z, timesteps, { textEmbeddings, textTokens, dropText: [false, true] }));
    const nullRows = tf.stack([tf.gather(textEmbeddings, 1), prior.null_text_embedding]) as tf.Tensor2D;
    const explicit = await take(prior.forward(z, timesteps, { textEmbeddings: nullRows }));
    expect(relativeError(dropped.subarray(E), explicit.subarray(E))).toBeLessThan(1e-5);
    const conditional = await take(prior.forward(z, timesteps, { textEmbeddings, textTokens }));
    expect(relativeError(dropped.subarray(0, E), conditional.subarray(0, E))).toBeLessThan(1e-6);
    expect(relativeError(dropped.subarray(E), conditional.subarray(E))).toBeGreaterThan(1e-3);
    // Padding tokens (mask 0) do not matter; real ones do.
    const mask = tf.tensor2d([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 5]);
    const other = seededNormal([2, 5, TINY_PRIOR.textTokenDim], 9) as tf.Tensor3D;
    const mixed = tf.concat([tf.slice(textTokens, [0, 0, 0], [2, 3, -1]), tf.slice(other, [0, 3, 0], [2, 2, -1])], 1) as tf.Tensor3D;
    const p = await take(prior.forward(z, timesteps, { textEmbeddings, textTokens, textMask: mask }));
    const q = await take(prior.forward(z, timesteps, { textEmbeddings, textTokens: mixed, textMask: mask }));
    expect(relativeError(q.subarray(0, E), p.subarray(0, E))).toBeLessThan(1e-6);
    expect(relativeError(q.subarray(E), p.subarray(E))).toBeGreaterThan(1e-4);
    tf.dispose([z, textEmbeddings, textTokens, nullRows, mask, other, mixed]);
    prior.dispose();
  });

  it("is deterministic per seed and round-trips through safetensors bit-exactly", async () => {
    await tf.setBackend("wasm");
    const prior = new DiffusionPrior(TINY_PRIOR, { seed: 4 });
    const twin = new DiffusionPrior(TINY_PRIOR, { seed: 4 });
    const other = new DiffusionPrior(TINY_PRIOR, { seed: 5 });
    const bytes = prior.toSafetensors();
    expect(parseSafetensors(bytes).metadata.format).toBe(PRIOR_FORMAT);
    const loaded = DiffusionPrior.fromSafetensors(bytes);
    const { z, textEmbeddings, textTokens, timesteps } = priorInputs(2, 5);
    const run = (m: DiffusionPrior) => take(m.forward(z, timesteps, { textEmbeddings, textTokens }));
    const reference = await run(prior);
    expect(await run(loaded)).toEqual(reference);
    expect(await run(twin)).toEqual(reference);
    expect(relativeError(await run(other), reference)).toBeGreaterThan(0.1);
    tf.dispose([z, textEmbeddings, textTokens]);
    for (const m of [prior, twin, other, loaded]) m.dispose();
  });

  it("rejects a checkpoint that does not fit with one error listing the bad keys", async () => {
    await tf.setBackend("cpu");
    const prior = new DiffusionPrior(TINY_PRIOR);
    const file = parseSafetensors(prior.toSafetensors());
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [key, t] of file.tensors) tensors[key] = { dtype: "F32", shape: t.shape, data: toFloat32(t) };
    delete tensors["transformer.resblocks.1.attn.in_proj_weight"];
    tensors["out_proj.bias"] = { dtype: "F32", shape: [3], data: new Float32Array(3) };
    tensors["transformer.resblocks.2.ln_1.weight"] = { dtype: "F32", shape: [32], data: new Float32Array(32) };
    const bad = serializeSafetensors(tensors, file.metadata);
    expect(() => DiffusionPrior.fromSafetensors(bad)).toThrow(CheckpointError);
    expect(() => DiffusionPrior.fromSafetensors(bad)).toThrow(
      /missing keys \(1\): transformer\.resblocks\.1\.attn\.in_proj_weight.*out_proj\.bias: checkpoint \[3\], model \[32\].*unused keys \(1\): transformer\.resblocks\.2\.ln_1\.weight/,
    );
    prior.dispose();
  });

  it("gives clear errors for a wrong embedding width, too many tokens and NaN", async () => {
    await tf.setBackend("cpu");
    const prior = new DiffusionPrior(TINY_PRIOR);
    const { z, textEmbeddings, textTokens, timesteps } = priorInputs(2, 6);
    const wide = tf.zeros([2, 512]) as tf.Tensor2D;
    const long = tf.zeros([2, 9, TINY_PRIOR.textTokenDim]) as tf.Tensor3D;
    const nan = tf.tensor2d(Array.from({ length: 2 * E }, (_, i) => (i === 3 ? NaN : 0)), [2, E]);
    const before = tf.memory().numTensors;
    expect(() => prior.forward(wide, timesteps, { textEmbeddings })).toThrow(/noisedImageEmbeddings must have shape \[\*, 32\].*width 32.*got \[2, 512\]/);
    expect(() => prior.forward(z, timesteps, { textEmbeddings: wide })).toThrow(/textEmbeddings must have shape \[2, 32\]/);
    expect(() => prior.forward(z, timesteps, { textEmbeddings, textTokens: long })).toThrow(/textTokens must have 1…8 tokens, got 9/);
    expect(() => prior.forward(z, timesteps, { textEmbeddings: nan as tf.Tensor2D })).toThrow(/textEmbeddings contains NaN/);
    expect(() => prior.forward(nan as tf.Tensor2D, timesteps, { textEmbeddings })).toThrow(/noisedImageEmbeddings contains NaN/);
    expect(() => prior.forward(z, timesteps, { textEmbeddings, textTokens, dropText: [true] })).toThrow(/dropText has 1 entries/);
    expect(() => new DiffusionPrior({ ...TINY_PRIOR, heads: 3 })).toThrow(/width 32 is not divisible by 3 heads/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, textEmbeddings, textTokens, wide, long, nan]);
    prior.dispose();
  });

  it("has gradients that match finite differences (cpu) and the same gradients on wasm", { timeout: 30_000 }, async () => {
    const setup = () => {
      const prior = new DiffusionPrior(TINY_PRIOR).initialise(7);
      const { z, textEmbeddings, textTokens, timesteps } = priorInputs(2, 8, 4);
      const textMask = tf.tensor2d([1, 1, 1, 0, 1, 1, 1, 1], [2, 4]);
      const r = seededNormal([2, E], 9);
      const loss = () => tf.sum(tf.mul(prior.forward(z, timesteps, { textEmbeddings, textTokens, textMask, dropText: [false, true] }), r)) as tf.Scalar;
      return { prior, loss, dispose: () => (tf.dispose([z, textEmbeddings, textTokens, textMask, r]), prior.dispose()) };
    };
    await tf.setBackend("cpu");
    const cpu = setup();
    expect(directionalDerivativeError(cpu.prior, cpu.loss, { epsilon: 3e-3, directions: 3, seed: 10 })).toBeLessThan(1e-2);
    const cpuGrads = gradientsByKey(cpu.prior, cpu.loss).grads;
    cpu.dispose();
    await tf.setBackend("wasm");
    const wasm = setup();
    const wasmGrads = gradientsByKey(wasm.prior, wasm.loss).grads;
    wasm.dispose();
    let worst = 0;
    for (const [key, g] of cpuGrads) if (g.some((v) => v !== 0)) worst = Math.max(worst, relativeError(wasmGrads.get(key)!, g));
    expect(worst).toBeLessThan(1e-3);
  });

  it("learns: 60 Adam steps on a fixed batch bring the x₀ loss far below predicting the mean (wasm)", { timeout: 60_000 }, async () => {
    await tf.setBackend("wasm");
    const prior = new DiffusionPrior(TINY_PRIOR, { seed: 1 });
    const batch = 8;
    // Image embeddings that depend on the text embeddings (a fixed random linear map), unit-normalised like CLIP's.
    const textEmbeddings = seededNormal([batch, E], 30, 1 / Math.sqrt(E)) as tf.Tensor2D;
    const map = seededNormal([E, E], 31, 1 / Math.sqrt(E));
    const x0 = tf.tidy(() => {
      const y = tf.matMul(textEmbeddings, map);
      return tf.div(y, tf.norm(y, 2, 1, true));
    }) as tf.Tensor2D;
    const noise = seededNormal([batch, E], 32, 1 / Math.sqrt(E));
    const timesteps = Array.from({ length: batch }, (_, i) => 50 + 100 * i);
    const zt = noised(x0, noise, timesteps) as tf.Tensor2D;
    const drop = dropConditioning(batch, 0.1, 1);
    const baseline = await take(tf.tidy(() => tf.mean(tf.square(tf.sub(x0, tf.mean(x0, 0, true)))))); // predict the batch mean
    const optimizer = tf.train.adam(5e-3);
    const loss = () => tf.losses.meanSquaredError(x0, prior.forward(zt, timesteps, { textEmbeddings, dropText: drop })) as tf.Scalar;
    const before = tf.memory().numTensors;
    let last = Infinity;
    for (let step = 0; step < 60; step++) last = (await take(optimizer.minimize(loss, true, [...prior.namedParameters().values()])!))[0]!;
    expect(tf.memory().numTensors - before).toBe(2 * prior.namedParameters().size); // Adam's moments only
    expect(last).toBeLessThan(0.25 * baseline[0]!);
    optimizer.dispose();
    tf.dispose([textEmbeddings, map, x0, noise, zt]);
    prior.dispose();
  });
});
