import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import "@proj/tensor-kernels/register";
import { describe, expect, it } from "vitest";
import { clipCheckpointShapes } from "./checkpoint-shapes.js";
import { toHuggingFaceLayout } from "./checkpoint-layouts.js";
import { clipFromSafetensors } from "./clip-model.js";
import { clipConfigFromHuggingFace, inferClipConfig } from "./config-inference.js";
import { RN101, RN50, RN50x16, RN50x4, RN50x64, VIT_B_16, VIT_B_32, VIT_L_14, VIT_L_14_336, clipConfigFromJson, clipConfigToJson, type ClipConfig } from "./config.js";
import { parseSafetensors, type SafetensorsFile } from "./safetensors.js";
import { CheckpointError } from "./weights.js";

function fixture(name: "vit" | "resnet"): { checkpoint: SafetensorsFile; config: ClipConfig } {
  const dir = new URL(`./__fixtures__/clip-reference/${name}/`, import.meta.url);
  const buffer = readFileSync(fileURLToPath(new URL("model.safetensors", dir)));
  const checkpoint = parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
  const config = clipConfigFromJson(readFileSync(fileURLToPath(new URL("config.json", dir)), "utf8"));
  return { checkpoint, config };
}

/** The file without its `__metadata__.config`, as a checkpoint converted from PyTorch by other tools would be. */
const withoutConfig = (file: SafetensorsFile): SafetensorsFile => ({ ...file, metadata: {} });
const shapesOf = (config: ClipConfig) => ({ tensors: new Map([...clipCheckpointShapes(config)].map(([k, shape]) => [k, { shape }])) });

const PRESETS = { VIT_B_32, VIT_B_16, VIT_L_14, VIT_L_14_336, RN50, RN101, RN50x4, RN50x16, RN50x64 };

describe("clipCheckpointShapes", () => {
  it.each(["vit", "resnet"] as const)("%s: exactly the reference state_dict's keys and shapes", (name) => {
    const { checkpoint, config } = fixture(name);
    const ours = clipCheckpointShapes(config);
    expect([...ours.keys()].sort()).toEqual([...checkpoint.tensors.keys()].sort());
    for (const [key, t] of checkpoint.tensors) expect(ours.get(key), key).toEqual(t.shape);
  });

  it("ViT-B/32 has the published 151,277,313 parameters", () => {
    // OpenAI's ViT-B/32: 151.28M parameters (sum over its state_dict, logit_scale included)
    const count = [...clipCheckpointShapes(VIT_B_32).values()].reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
    expect(count).toBe(151_277_313);
  });
});

describe("inferClipConfig: the reference loader's rules", () => {
  it.each(Object.entries(PRESETS))("%s from its shapes alone", (_, preset) => {
    expect(inferClipConfig(shapesOf(preset))).toEqual(clipConfigFromJson(clipConfigToJson(preset)));
  });

  it.each(["vit", "resnet"] as const)("%s fixture: every field but the text heads, which shapes cannot tell (width / 64 = 1, stored 4)", (name) => {
    const { checkpoint, config } = fixture(name);
    const inferred = inferClipConfig(checkpoint);
    expect({ ...inferred, transformerHeads: config.transformerHeads }).toEqual(config);
    expect(inferred.transformerHeads).toBe(1);
  });

  it("loadClip infers when there is no stored or given config and says so", async () => {
    await tf.setBackend("cpu");
    const { checkpoint, config } = fixture("vit");
    const before = tf.memory().numTensors;
    const model = clipFromSafetensors(withoutConfig(checkpoint));
    expect(model.configSource).toBe("shapes");
    expect(model.config.visionWidth).toBe(config.visionWidth);
    model.dispose();
    const explicit = clipFromSafetensors(withoutConfig(checkpoint), { config });
    expect(explicit.configSource).toBe("options");
    explicit.dispose();
    const stored = clipFromSafetensors(checkpoint);
    expect(stored.configSource).toBe("metadata");
    stored.dispose();
    // the Hugging Face layout carries no config either; its keys are converted first, then inferred
    const hf = clipFromSafetensors(toHuggingFaceLayout(withoutConfig(checkpoint)));
    expect(hf.configSource).toBe("shapes");
    hf.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("names what it cannot infer", () => {
    const shapes = shapesOf({ ...VIT_B_32, transformerWidth: 96, transformerHeads: 3 });
    expect(() => inferClipConfig(shapes)).toThrow(CheckpointError);
    expect(() => inferClipConfig(shapes)).toThrow(/text width 96 is not a multiple of 64.*pass options\.config/);
    const noText = shapesOf(VIT_B_32);
    noText.tensors.delete("ln_final.weight");
    noText.tensors.delete("text_projection");
    expect(() => inferClipConfig(noText)).toThrow(/missing ln_final\.weight; missing text_projection|missing text_projection.*missing ln_final\.weight/);
    const odd = shapesOf(VIT_B_32);
    odd.tensors.set("visual.positional_embedding", { shape: [48, 768] });
    expect(() => inferClipConfig(odd)).toThrow(/visual\.positional_embedding has 48 rows, not a square grid plus one token/);
    expect(() => inferClipConfig({ tensors: new Map() })).toThrow(/neither visual\.proj \(ViT\) nor visual\.layer1…4/);
  });
});

describe("clipConfigFromHuggingFace", () => {
  it("reads openai/clip-vit-base-patch32's config.json fields", () => {
    // The architecture fields of huggingface.co/openai/clip-vit-base-patch32/config.json (values as published).
    const json = {
      projection_dim: 512,
      text_config: { hidden_size: 512, intermediate_size: 2048, num_attention_heads: 8, num_hidden_layers: 12, max_position_embeddings: 77, vocab_size: 49408, hidden_act: "quick_gelu" },
      vision_config: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, patch_size: 32, image_size: 224, hidden_act: "quick_gelu" },
    };
    expect(clipConfigFromHuggingFace(json)).toEqual(clipConfigFromJson(clipConfigToJson(VIT_B_32)));
    expect(clipConfigFromHuggingFace(JSON.stringify(json))).toEqual(clipConfigFromJson(clipConfigToJson(VIT_B_32)));
    expect(clipConfigFromHuggingFace({})).toEqual(clipConfigFromJson(clipConfigToJson(VIT_B_32))); // CLIPConfig's defaults are ViT-B/32
  });

  it("refuses what the OpenAI architecture cannot express, naming the field", () => {
    expect(() => clipConfigFromHuggingFace({ vision_config: { hidden_size: 768, num_attention_heads: 8 } })).toThrow(/vision_config\.num_attention_heads is 8.*12 heads/);
    expect(() => clipConfigFromHuggingFace({ text_config: { hidden_act: "gelu" } })).toThrow(/text_config\.hidden_act is "gelu"/);
    expect(() => clipConfigFromHuggingFace({ text_config: { hidden_size: 512, intermediate_size: 1000 } })).toThrow(/intermediate_size is 1000, not 4 × hidden_size = 2048/);
    expect(() => clipConfigFromHuggingFace([])).toThrow(/must be an object/);
  });
});
