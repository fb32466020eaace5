/**
 * Writes tiny random-weight models to public/models-test/ (or the folder given as the first argument), the way
 * examples/node's test does: a ViT CLIP with embedding width 32 (TINY_DECODER's clipEmbedDim), TINY_DECODER (16×16),
 * TINY_UPSAMPLER (16 → 32) and TINY_PRIOR over that CLIP's text tokens. Open the app with `?models=models-test` to use
 * them. Random weights make the pictures noise; they exist to develop and test the page, not to look at.
 *
 *   npm run test-models -w @proj/example-web
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { clipFromSafetensors, initClip, saveClip, type ClipConfig } from "@proj/clip";
import { DiffusionPrior, TINY_DECODER, TINY_PRIOR, TINY_UPSAMPLER, UNet } from "@proj/unclip";

/** A tiny ViT CLIP: 32×32 images in 16 patches, one block per tower, CLIP's own 49,408-token vocabulary. */
export const TINY_CLIP: ClipConfig = {
  embedDim: TINY_DECODER.clipEmbedDim,
  imageResolution: 32,
  visionLayers: 1,
  visionWidth: 64, // one head: the ViT has width / 64 heads
  visionPatchSize: 8,
  contextLength: 77,
  vocabSize: 49_408,
  transformerWidth: 32,
  transformerHeads: 2,
  transformerLayers: 1,
};

export const TEST_MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../public/models-test");

/** Writes clip, decoder, upsampler and prior .safetensors into `dir`. */
export async function makeTestModels(dir: string = TEST_MODELS_DIR): Promise<void> {
  await tf.setBackend("wasm");
  mkdirSync(dir, { recursive: true });
  const clip = clipFromSafetensors(initClip(TINY_CLIP, { seed: 1 }));
  writeFileSync(join(dir, "clip.safetensors"), await saveClip(clip));
  clip.dispose();
  const prior = { ...TINY_PRIOR, textTokenDim: TINY_CLIP.transformerWidth, maxTextTokens: TINY_CLIP.contextLength };
  for (const [name, make] of [
    ["decoder", () => new UNet(TINY_DECODER)],
    ["upsampler", () => new UNet(TINY_UPSAMPLER)],
    ["prior", () => new DiffusionPrior(prior)],
  ] as const) {
    const model = make();
    writeFileSync(join(dir, `${name}.safetensors`), model.toSafetensors());
    model.dispose();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? TEST_MODELS_DIR);
  await makeTestModels(dir);
  console.log(`wrote tiny random models to ${dir}`);
}
