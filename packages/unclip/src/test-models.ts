/**
 * Tiny random-weight models for tests of whole pipelines (the CLI's), written as the four files `loadPipeline(folder)`
 * and `proj-unclip --models <folder>` read: a ViT CLIP of embedding width 32 (TINY_DECODER's clipEmbedDim), TINY_DECODER
 * (16×16), TINY_UPSAMPLER (16 → 32) and TINY_PRIOR over that CLIP's text tokens. Random weights make the pictures
 * noise: they exist to test plumbing, shapes, seeds and files, not to look at. Node only (writes files).
 *
 *   import { writeTinyModels } from "@proj/unclip/testing";
 *   await writeTinyModels("test-models");   // then loadPipeline("test-models") in your app's tests
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clipFromSafetensors, initClip, saveClip, type ClipConfig } from "@proj/clip";
import { DiffusionPrior, TINY_PRIOR } from "./diffusion-prior.js";
import { TINY_DECODER, TINY_UPSAMPLER } from "./unet-config.js";
import { UNet } from "./unet.js";

/** A tiny ViT CLIP: 32×32 images in 16 patches, one block per tower, CLIP's own 49,408-token vocabulary. */
export const TINY_PIPELINE_CLIP: Readonly<ClipConfig> = Object.freeze({
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
});

export interface TinyModelsOptions {
  /** Write prior.safetensors (default true); without it the pipeline cannot turn text into images. */
  prior?: boolean;
  /** Write upsampler.safetensors (default true); without it images stay at the decoder's 16×16. */
  upsampler?: boolean;
  /** Initialisation seed of every model (default 1). */
  seed?: number;
}

/** Writes clip, decoder and (by default) prior and upsampler .safetensors into `dir` (created if needed). */
export async function writeTinyModels(dir: string, options: TinyModelsOptions = {}): Promise<void> {
  const seed = options.seed ?? 1;
  mkdirSync(dir, { recursive: true });
  const clip = clipFromSafetensors(initClip(TINY_PIPELINE_CLIP, { seed }));
  try {
    writeFileSync(join(dir, "clip.safetensors"), await saveClip(clip));
  } finally {
    clip.dispose();
  }
  // The prior reads the CLIP's text token features (width and count of TINY_PIPELINE_CLIP's text tower).
  const prior = { ...TINY_PRIOR, textTokenDim: TINY_PIPELINE_CLIP.transformerWidth, maxTextTokens: TINY_PIPELINE_CLIP.contextLength };
  // Output layers get random weights too (a fresh model zeroes them, guided diffusion's init), so that the pictures
  // depend on the embedding: blends and variations then differ from image to image, as with trained models.
  const init = { zeroOutputs: false };
  const models: [string, () => UNet | DiffusionPrior][] = [["decoder", () => new UNet(TINY_DECODER).initialise(seed, init)]];
  if (options.upsampler ?? true) models.push(["upsampler", () => new UNet(TINY_UPSAMPLER).initialise(seed, init)]);
  if (options.prior ?? true) models.push(["prior", () => new DiffusionPrior(prior).initialise(seed, init)]);
  for (const [name, make] of models) {
    const model = make();
    try {
      writeFileSync(join(dir, `${name}.safetensors`), model.toSafetensors());
    } finally {
      model.dispose();
    }
  }
}
