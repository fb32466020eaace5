import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CheckpointLayoutError,
  HUGGING_FACE_KEYS,
  detectCheckpointLayout,
  fromHuggingFaceLayout,
  toHuggingFaceLayout,
} from "./checkpoint-layouts.js";
import { clipFromSafetensors, clipLogits, encodeImage, encodeText, loadClip, type ClipModel } from "./clip-model.js";
import { clipConfigFromJson } from "./config.js";
import { parseSafetensors, serializeSafetensors, toFloat32, type SafetensorsFile } from "./safetensors.js";
import { CheckpointError } from "./weights.js";
import { fixtureTokens, relativeError, stored } from "./testing/fixtures.js";

// The reference fixtures (tools/make_clip_fixtures.py, github.com/openai/CLIP, random weights). Hugging Face has no
// ModifiedResNet CLIP, so only the ViT fixture has a Hugging Face layout; we build it from the OpenAI one.
const fixtureDir = (name: string): URL => new URL(`./__fixtures__/clip-reference/${name}/`, import.meta.url);
function read(dir: URL, name: string): SafetensorsFile {
  const buffer = readFileSync(fileURLToPath(new URL(name, dir)));
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
}
const VIT = fixtureDir("vit");
const openai = read(VIT, "model.safetensors");
const inputs = read(VIT, "inputs.safetensors");
const outputs = read(VIT, "outputs.safetensors");
const resnet = read(fixtureDir("resnet"), "model.safetensors");
const config = clipConfigFromJson(JSON.parse(readFileSync(fileURLToPath(new URL("config.json", VIT)), "utf8")));



const huggingFace = toHuggingFaceLayout(openai);
const TOLERANCE = 1e-4;

describe("Hugging Face CLIPModel key layout", () => {
  it("detects the layout from the keys, and names a mixed or unknown one", () => {
    expect(detectCheckpointLayout(openai.tensors.keys())).toBe("openai");
    expect(detectCheckpointLayout(resnet.tensors.keys())).toBe("openai");
    expect(detectCheckpointLayout(huggingFace.tensors.keys())).toBe("huggingface");
    expect(() => detectCheckpointLayout(["visual.proj", "text_model.final_layer_norm.weight"])).toThrow(
      /mixes Hugging Face keys \(e\.g\. text_model\.final_layer_norm\.weight\) and OpenAI keys \(e\.g\. visual\.proj\)/,
    );
    expect(() => detectCheckpointLayout(["model.embed.weight"])).toThrow(CheckpointLayoutError);
    expect(() => clipFromSafetensors({ tensors: new Map(), metadata: openai.metadata })).toThrow(CheckpointError); // one catch for all load errors
  });

  it("writes HF's names, separate q/k/v and transposed projections", () => {
    const keys = [...huggingFace.tensors.keys()];
    for (const key of [
      "vision_model.encoder.layers.0.self_attn.q_proj.weight",
      "vision_model.encoder.layers.1.self_attn.v_proj.bias",
      "text_model.encoder.layers.1.mlp.fc2.weight",
      "text_model.encoder.layers.0.layer_norm1.weight",
      "text_model.embeddings.token_embedding.weight",
      "vision_model.embeddings.class_embedding",
      "vision_model.embeddings.patch_embedding.weight",
      "vision_model.embeddings.position_embedding.weight",
      "vision_model.pre_layrnorm.weight",
      "vision_model.post_layernorm.bias",
      "text_model.final_layer_norm.bias",
      "visual_projection.weight",
      "text_projection.weight",
      "logit_scale",
    ]) {
      expect(keys, key).toContain(key);
    }
    expect(keys.some((k) => k.startsWith("visual.") || k.includes("in_proj"))).toBe(false);
    expect(stored(huggingFace, "vision_model.encoder.layers.0.self_attn.k_proj.weight").shape).toEqual([96, 96]);
    // visual.proj [width 96, embed 64] → visual_projection.weight [64, 96]; element (i, j) ↔ (j, i)
    const proj = toFloat32(stored(openai, "visual.proj"));
    const linear = toFloat32(stored(huggingFace, "visual_projection.weight"));
    expect(stored(huggingFace, "visual_projection.weight").shape).toEqual([64, 96]);
    expect(linear[5 * 96 + 7]).toBe(proj[7 * 64 + 5]);
    // q is the first third of in_proj_weight
    const packed = toFloat32(stored(openai, "transformer.resblocks.1.attn.in_proj_weight"));
    const k = toFloat32(stored(huggingFace, "text_model.encoder.layers.1.self_attn.k_proj.weight"));
    expect(Array.from(k)).toEqual(Array.from(packed.subarray(64 * 64, 2 * 64 * 64)));
  });

  it("converts back to OpenAI's layout byte for byte (the inverse), dropping position_ids", () => {
    const tensors = new Map(huggingFace.tensors);
    tensors.set("text_model.embeddings.position_ids", { dtype: "I64", shape: [1, 77], bytes: new Uint8Array(77 * 8) });
    tensors.set("vision_model.embeddings.position_ids", { dtype: "I64", shape: [1, 17], bytes: new Uint8Array(17 * 8) });
    const back = fromHuggingFaceLayout({ tensors, metadata: huggingFace.metadata });
    expect([...back.tensors.keys()].sort()).toEqual([...openai.tensors.keys()].sort());
    for (const [key, t] of openai.tensors) {
      const b = stored(back, key);
      expect(b.dtype, key).toBe(t.dtype);
      expect(b.shape, key).toEqual(t.shape);
      expect(Buffer.from(b.bytes).equals(Buffer.from(t.bytes)), key).toBe(true);
    }
    expect(back.metadata).toEqual(openai.metadata);
  });

  it("keeps the dtype (F16 bytes move as 2-byte elements)", () => {
    // text_projection [2, 3] F16 with elements 1..6 (as half-precision bit patterns, 0x3c00 = 1.0, …)
    const halves = new Uint16Array([0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600]);
    const file: SafetensorsFile = {
      tensors: new Map([["text_projection", { dtype: "F16", shape: [2, 3], bytes: new Uint8Array(halves.buffer) }]]),
      metadata: {},
    };
    const hf = stored(toHuggingFaceLayout(file), "text_projection.weight");
    expect(hf.dtype).toBe("F16");
    expect(hf.shape).toEqual([3, 2]);
    expect(Array.from(toFloat32(hf))).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it("names what it cannot convert", () => {
    expect(() => toHuggingFaceLayout(resnet)).toThrow(/a ModifiedResNet CLIP checkpoint \(visual\.bn1\.weight, …\) has no Hugging Face layout/);
    expect(() => toHuggingFaceLayout({ tensors: new Map([["visual.extra", stored(openai, "logit_scale")]]), metadata: {} })).toThrow(
      "visual.extra has no Hugging Face counterpart",
    );
    const tensors = new Map(huggingFace.tensors);
    tensors.delete("text_model.encoder.layers.1.self_attn.v_proj.bias");
    expect(() => fromHuggingFaceLayout({ tensors, metadata: {} })).toThrow(
      /missing text_model\.encoder\.layers\.1\.self_attn\.v_proj\.bias \(needed with text_model\.encoder\.layers\.1\.self_attn\.q_proj\.bias for transformer\.resblocks\.1\.attn\.in_proj_bias\)/,
    );
    const mismatched = new Map(huggingFace.tensors);
    const q = stored(huggingFace, "vision_model.encoder.layers.0.self_attn.q_proj.bias");
    mismatched.set("vision_model.encoder.layers.0.self_attn.k_proj.bias", { ...q, dtype: "F16", bytes: q.bytes.subarray(0, q.bytes.length / 2) });
    expect(() => fromHuggingFaceLayout({ tensors: mismatched, metadata: {} })).toThrow(/must have one dtype and shape to be packed/);
  });

  it("every table entry is used by the ViT fixture (none is dead)", () => {
    const rules = HUGGING_FACE_KEYS.map((r) => r.openai.replace("{i}", "0"));
    for (const key of rules) expect(openai.tensors.has(key), key).toBe(true);
  });
});

describe.each(["cpu", "wasm"])("loadClip on a Hugging Face layout checkpoint on %s", (backend) => {
  let fromOpenAi: ClipModel;
  let fromHuggingFace: ClipModel;
  let images: tf.Tensor4D;
  let tokens: tf.Tensor2D;

  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    fromOpenAi = clipFromSafetensors(openai);
    // through the bytes, as a user would load it: HF's safetensors carry no CLIP config, so it comes from options
    const tensors: Parameters<typeof serializeSafetensors>[0] = {};
    for (const [key, t] of huggingFace.tensors) tensors[key] = { dtype: "F32", shape: t.shape, data: toFloat32(t) };
    fromHuggingFace = await loadClip(serializeSafetensors(tensors, { format: "pt" }), { config });
    const pixels = stored(inputs, "images");
    images = tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(pixels), pixels.shape as [number, number, number, number]), [0, 2, 3, 1]));
    tokens = fixtureTokens(inputs);
  });
  afterAll(() => {
    tf.dispose([images, tokens]);
    fromOpenAi.dispose();
    fromHuggingFace.dispose();
  });

  it("gives the OpenAI-layout outputs (≤ 1e-6) and the reference's (≤ 1e-4)", async () => {
    type Outputs = Record<"image_features" | "text_features" | "logits_per_image", Float32Array>;
    const run = async (model: ClipModel): Promise<Outputs> => {
      const imageFeatures = encodeImage(model, images);
      const textFeatures = await encodeText(model, tokens);
      const logits = clipLogits(model, imageFeatures, textFeatures);
      const result = {
        image_features: (await imageFeatures.data()) as Float32Array,
        text_features: (await textFeatures.data()) as Float32Array,
        logits_per_image: (await logits.data()) as Float32Array,
      };
      tf.dispose([imageFeatures, textFeatures, logits]);
      return result;
    };
    const ours = await run(fromHuggingFace);
    const theirs = await run(fromOpenAi);
    for (const name of ["image_features", "text_features", "logits_per_image"] as const) {
      const toOpenAi = relativeError(ours[name], theirs[name]);
      const toReference = relativeError(ours[name], toFloat32(stored(outputs, name)));
      console.log(`[${backend}] HF layout ${name}: vs OpenAI layout ${toOpenAi.toExponential(2)}, vs reference ${toReference.toExponential(2)}`);
      expect(toOpenAi, name).toBeLessThanOrEqual(1e-6);
      expect(toReference, name).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("loads and disposes without leaking", () => {
    const before = tf.memory().numTensors;
    clipFromSafetensors(huggingFace, { config }).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("loadClip on a wrong Hugging Face checkpoint", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("a projection left untransposed is a shape mismatch naming the OpenAI key", () => {
    const tensors = new Map(huggingFace.tensors);
    const proj = stored(openai, "visual.proj"); // [96, 64]: OpenAI's orientation under HF's name
    tensors.set("visual_projection.weight", proj);
    expect(() => clipFromSafetensors({ tensors, metadata: {} }, { config })).toThrow("visual.proj: checkpoint [64, 96], model [96, 64]");
  });

  it("an unknown key is reported as unused, under its own name", () => {
    const tensors = new Map(huggingFace.tensors);
    tensors.set("vision_model.extra.weight", { dtype: "F32", shape: [1], bytes: new Uint8Array(4) });
    expect(() => clipFromSafetensors({ tensors, metadata: {} }, { config })).toThrow(CheckpointError);
    expect(() => clipFromSafetensors({ tensors, metadata: {} }, { config })).toThrow("unused keys (1): vision_model.extra.weight");
  });
});
