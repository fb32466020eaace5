import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { beforeAll, describe, expect, it } from "vitest";
import { clipCheckpointShapes } from "../checkpoint-shapes.js";
import { clipFromSafetensors, encodeImage } from "../clip-model.js";
import { RN50, VIT_B_32 } from "../config.js";
import { toFloat32 } from "../safetensors.js";
import { TINY_TRAINING_CONFIG } from "../testing/synthetic-pairs.js";
import { initClip } from "./init.js";

beforeAll(async () => {
  await tf.setBackend("wasm");
});

function stats(values: Float32Array): { mean: number; std: number; maxAbs: number } {
  let sum = 0;
  let squares = 0;
  let maxAbs = 0;
  for (const v of values) {
    sum += v;
    squares += v * v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(squares / values.length - mean * mean), maxAbs };
}

describe("initClip", () => {
  // Text width 512 × 12 layers as ViT-B/32, smaller elsewhere so the draw is quick.
  const config = { ...VIT_B_32, visionLayers: 1, vocabSize: 4096, transformerLayers: 12 };
  const file = initClip(config, { seed: 5 });
  const values = (key: string) => toFloat32(file.tensors.get(key)!);
  const D = config.transformerWidth;

  it("has every checkpoint key with its shape, and the config in the metadata", () => {
    const shapes = clipCheckpointShapes(config);
    expect([...file.tensors.keys()].sort()).toEqual([...shapes.keys()].sort());
    for (const [key, shape] of shapes) expect(file.tensors.get(key)!.shape, key).toEqual(shape);
    expect(JSON.parse(file.metadata.config!)).toMatchObject({ embed_dim: 512, vocab_size: 4096, transformer_layers: 12 });
  });

  it("draws the reference's initialisation (CLIP.initialize_parameters and VisionTransformer.__init__)", () => {
    const expectStd = (key: string, std: number) => {
      const s = stats(values(key));
      expect(Math.abs(s.mean), key).toBeLessThan(0.05 * std + 1e-4);
      expect(s.std / std, key).toBeGreaterThan(0.97);
      expect(s.std / std, key).toBeLessThan(1.03);
    };
    expectStd("token_embedding.weight", 0.02);
    expectStd("positional_embedding", 0.01);
    expectStd("transformer.resblocks.3.attn.in_proj_weight", D ** -0.5);
    expectStd("transformer.resblocks.3.attn.out_proj.weight", D ** -0.5 * 24 ** -0.5);
    expectStd("transformer.resblocks.3.mlp.c_fc.weight", (2 * D) ** -0.5);
    expectStd("transformer.resblocks.3.mlp.c_proj.weight", D ** -0.5 * 24 ** -0.5);
    expectStd("text_projection", D ** -0.5);
    expectStd("visual.positional_embedding", 768 ** -0.5);
    expectStd("visual.proj", 768 ** -0.5);
    // Uniform U(±b) has std b/√3.
    expectStd("visual.conv1.weight", 1 / Math.sqrt(3 * 32 * 32) / Math.sqrt(3));
    expectStd("visual.transformer.resblocks.0.attn.in_proj_weight", Math.sqrt(6 / (4 * 768)) / Math.sqrt(3));
    expectStd("visual.transformer.resblocks.0.mlp.c_proj.weight", 1 / Math.sqrt(4 * 768) / Math.sqrt(3));
    expect(stats(values("visual.transformer.resblocks.0.mlp.c_fc.bias")).maxAbs).toBeLessThanOrEqual(1 / Math.sqrt(768));
    expect(values("logit_scale")[0]).toBeCloseTo(Math.log(1 / 0.07), 6);
    expect(values("ln_final.weight").every((v) => v === 1)).toBe(true);
    expect(values("visual.ln_pre.bias").every((v) => v === 0)).toBe(true);
    expect(values("transformer.resblocks.0.attn.in_proj_bias").every((v) => v === 0)).toBe(true);
    expect(values("visual.transformer.resblocks.0.attn.out_proj.bias").every((v) => v === 0)).toBe(true);
  });

  it("is deterministic per seed", () => {
    const again = toFloat32(initClip(TINY_TRAINING_CONFIG, { seed: 2 }).tensors.get("visual.proj")!);
    expect(Array.from(toFloat32(initClip(TINY_TRAINING_CONFIG, { seed: 2 }).tensors.get("visual.proj")!))).toEqual(Array.from(again));
    expect(Array.from(toFloat32(initClip(TINY_TRAINING_CONFIG, { seed: 3 }).tensors.get("visual.proj")!))).not.toEqual(Array.from(again));
    expect(() => initClip(RN50)).toThrow(/only ViT/);
  });

  it("loads as a trainable model whose variables are the components' tensors", () => {
    const before = tf.memory().numTensors;
    const model = clipFromSafetensors(initClip(TINY_TRAINING_CONFIG, { seed: 1 }), { trainable: true });
    expect(model.parameters!.size).toBe(clipCheckpointShapes(TINY_TRAINING_CONFIG).size);
    expect(model.parameters!.get("visual.proj")).toBe((model.visual as { proj: unknown }).proj);
    expect([...model.parameters!.values()].every((v) => v instanceof tf.Variable && v.trainable)).toBe(true);
    expect(model.logitScale).toBeCloseTo(1 / 0.07, 4);
    const R = TINY_TRAINING_CONFIG.imageResolution;
    const pixels = tf.zeros([2, R, R, 3]) as tf.Tensor4D;
    const { value, grads } = tf.variableGrads(() => tf.sum(encodeImage(model, pixels)) as tf.Scalar);
    expect(Object.keys(grads).length).toBeGreaterThan(5);
    tf.dispose([pixels, value, ...Object.values(grads)]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => clipFromSafetensors(initClip(TINY_TRAINING_CONFIG), { trainable: true, config: RN50 })).toThrow();
  });
});
