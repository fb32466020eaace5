import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import "@proj/tensor-kernels/register";
import { beforeAll, describe, expect, it } from "vitest";
import { toHuggingFaceLayout } from "./checkpoint-layouts.js";
import { clipFromSafetensors, clipLogits, encodeImage, encodeText, type ClipModel } from "./clip-model.js";
import { clipConfigFromJson } from "./config.js";
import { parseSafetensors, toFloat32, type SafetensorsFile } from "./safetensors.js";
import { saveClip } from "./save-checkpoint.js";
import { initClip } from "./training/init.js";
import { ClipTokenizer, trainBpe } from "@proj/tokenizer";
import { fixtureTokens, relativeError, stored } from "./testing/fixtures.js";

// The reference fixtures (tools/make_clip_fixtures.py, github.com/openai/CLIP, random weights).
function read(architecture: "vit" | "resnet", name: string): SafetensorsFile {
  const buffer = readFileSync(fileURLToPath(new URL(`./__fixtures__/clip-reference/${architecture}/${name}`, import.meta.url)));
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
}



/** image features, text features and logits of the fixture inputs. */
async function outputsOf(model: ClipModel, inputs: SafetensorsFile): Promise<Float32Array[]> {
  const pixels = stored(inputs, "images");
  const images = tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(pixels), pixels.shape as [number, number, number, number]), [0, 2, 3, 1]));
  const tokens = fixtureTokens(inputs);
  const imageFeatures = encodeImage(model, images as tf.Tensor4D);
  const textFeatures = await encodeText(model, tokens);
  const logits = clipLogits(model, imageFeatures, textFeatures);
  const result = [imageFeatures, textFeatures, logits].map((x) => x.dataSync() as Float32Array);
  tf.dispose([images, tokens, imageFeatures, textFeatures, logits]);
  return result;
}

describe("saveClip", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("ViT: writes the original checkpoint back, tensor for tensor and bit for bit, with its config", async () => {
    const original = read("vit", "model.safetensors");
    const model = clipFromSafetensors(original);
    const before = tf.memory().numTensors;
    const saved = parseSafetensors(await saveClip(model));
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    expect([...saved.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    for (const [key, t] of original.tensors) {
      const s = stored(saved, key);
      expect(s.shape, key).toEqual(t.shape);
      expect(Buffer.from(s.bytes).equals(Buffer.from(t.bytes)), key).toBe(true);
    }
    expect(saved.metadata.format).toBe("pt");
    expect(clipConfigFromJson(saved.metadata.config)).toEqual(clipConfigFromJson(original.metadata.config));
  });

  it("ViT loaded from the Hugging Face layout saves in OpenAI's layout", async () => {
    const original = read("vit", "model.safetensors");
    const model = clipFromSafetensors(toHuggingFaceLayout(original));
    const saved = parseSafetensors(await saveClip(model));
    model.dispose();
    expect([...saved.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    expect(Buffer.from(stored(saved, "visual.proj").bytes).equals(Buffer.from(stored(original, "visual.proj").bytes))).toBe(true);
  });

  it("ModifiedResNet: every key of the original, BatchNorm folded into identity; save → load gives the same outputs", async () => {
    const original = read("resnet", "model.safetensors");
    const inputs = read("resnet", "inputs.safetensors");
    const model = clipFromSafetensors(original);
    const saved = parseSafetensors(await saveClip(model));
    expect([...saved.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    expect(Array.from(toFloat32(stored(saved, "visual.layer1.0.bn2.weight")))).toEqual(new Array(8).fill(1));
    const reloaded = clipFromSafetensors(saved); // config from __metadata__, every key used
    const ours = await outputsOf(reloaded, inputs);
    const theirs = await outputsOf(model, inputs);
    reloaded.dispose();
    model.dispose();
    for (const [i, name] of ["image_features", "text_features", "logits_per_image"].entries()) {
      const error = relativeError(ours[i]!, theirs[i]!);
      console.log(`resnet save → load ${name}: relative difference ${error.toExponential(2)}`);
      expect(error, name).toBeLessThanOrEqual(1e-6);
    }
  });

  it("F16: half the bytes, every weight rounded to half precision, outputs within half-precision error", async () => {
    const original = read("vit", "model.safetensors");
    const inputs = read("vit", "inputs.safetensors");
    const model = clipFromSafetensors(original);
    const before = tf.memory().numTensors;
    const bytes = await saveClip(model, { dtype: "F16" });
    expect(tf.memory().numTensors).toBe(before);
    const saved = parseSafetensors(bytes);
    expect(stored(saved, "visual.proj").dtype).toBe("F16");
    expect(stored(saved, "logit_scale").dtype).toBe("F32");
    // each value is the nearest half: |Δ| ≤ 2⁻¹¹ relative (normal range)
    const ref = toFloat32(stored(original, "transformer.resblocks.0.attn.in_proj_weight"));
    const half = toFloat32(stored(saved, "transformer.resblocks.0.attn.in_proj_weight"));
    for (let i = 0; i < ref.length; i++) expect(Math.abs(half[i]! - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) * 2 ** -11 + 2 ** -25);
    expect(bytes.byteLength).toBeLessThan(0.55 * readFileSync(fileURLToPath(new URL("./__fixtures__/clip-reference/vit/model.safetensors", import.meta.url))).byteLength);
    const reloaded = clipFromSafetensors(saved);
    const ours = await outputsOf(reloaded, inputs);
    const theirs = await outputsOf(model, inputs);
    reloaded.dispose();
    model.dispose();
    for (const [i, name] of ["image_features", "text_features", "logits_per_image"].entries()) {
      const error = relativeError(ours[i]!, theirs[i]!);
      console.log(`vit F16 save → load ${name}: relative difference ${error.toExponential(2)}`);
      expect(error, name).toBeGreaterThan(0); // it did round
      expect(error, name).toBeLessThanOrEqual(3e-3);
    }
    await expect(saveClip(reloaded, { dtype: "BF16" as "F16" })).rejects.toThrow(/dtype must be "F32" or "F16"/);
  });
});

describe("a model with its own vocabulary", () => {
  it("travels with its tokenizer: saveClip stores it, loadClip reads it, encodeText uses it; sizes must agree", async () => {
    await tf.setBackend("cpu");
    const captions = ["a red apple", "a green apple", "a red square", "a blue circle", "flag of France", "a waving hand"];
    const vocabulary = trainBpe(captions.flatMap((c) => [c, c, c]), { vocabSize: 540 });
    const tokenizer = ClipTokenizer.fromVocabulary(vocabulary);
    const config = clipConfigFromJson({ embed_dim: 16, image_resolution: 16, vision_layers: 1, vision_width: 64, vision_patch_size: 8, context_length: 12, vocab_size: tokenizer.vocabSize, transformer_width: 64, transformer_heads: 2, transformer_layers: 1 });
    const file = initClip(config, { seed: 1 });
    const before = tf.memory().numTensors;
    const model = clipFromSafetensors(file, { tokenizer });
    const saved = parseSafetensors(await saveClip(model));
    expect(saved.metadata.tokenizer_bpe).toContain("#version");
    const reloaded = clipFromSafetensors(saved); // tokenizer from __metadata__
    expect(reloaded.tokenizer?.vocabSize).toBe(tokenizer.vocabSize);
    const [a, b] = [await encodeText(model, captions), await encodeText(reloaded, captions)];
    const ids = tokenizer.tokenize(captions, { contextLength: 12 });
    const c = await encodeText(model, ids);
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    expect(Array.from(await c.data())).toEqual(Array.from(await a.data()));
    const expected = Array.from(await a.data());
    tf.dispose([a, b, c]);
    model.dispose();
    reloaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const bare = clipFromSafetensors(file); // no tokenizer: token ids work, strings are refused with the reason
    const fromIds = await encodeText(bare, ids);
    expect(Array.from(await fromIds.data())).toEqual(expected);
    fromIds.dispose();
    await expect(encodeText(bare, captions)).rejects.toThrow(/has its own \d+-token vocabulary but no tokenizer: load it with \{ tokenizer \} or pass token ids/);
    bare.dispose();
    const other = ClipTokenizer.fromVocabulary(trainBpe(captions, { vocabSize: 520 }));
    expect(() => clipFromSafetensors(file, { tokenizer: other })).toThrow(/options\.tokenizer has \d+ tokens but the model's token embedding has/);
  });
});
