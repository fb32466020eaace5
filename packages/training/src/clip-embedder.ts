/**
 * The trained CLIP that the prior and the decoder learn from: packages/clip/models/clip.safetensors (or --clip), with its own
 * tokenizer, embedding emoji batches exactly as `train:clip` fed them (32×32, CLIP-normalised).
 */
import { existsSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { CLIP_MEAN, CLIP_STD, encodeImage, encodeText, loadClip, type ClipModel } from "@proj/clip";

export async function loadTrainedClip(path: string): Promise<ClipModel> {
  if (!existsSync(path)) {
    console.error(`no CLIP at ${path}: train it first (npm run train:clip), or give another model file (--clip, or --model for eval:clip)`);
    process.exit(2);
  }
  return loadClip(path);
}

/** images: [B, R, R, 3] in [0, 1] at the CLIP's resolution → image embeddings [B, E] (not normalised). */
export function embedImages(clip: ClipModel, images: Float32Array, batch: number): tf.Tensor2D {
  const R = clip.config.imageResolution;
  return tf.tidy(() => {
    const pixels = tf.tensor4d(images, [batch, R, R, 3]);
    const normalised = tf.div(tf.sub(pixels, tf.tensor1d([...CLIP_MEAN])), tf.tensor1d([...CLIP_STD])) as tf.Tensor4D;
    return encodeImage(clip, normalised);
  });
}

/** Captions → text embeddings [B, E] with the CLIP's own tokenizer (cut at its context length). */
export async function embedCaptions(clip: ClipModel, captions: readonly string[]): Promise<tf.Tensor2D> {
  const ids = clip.tokenizer === undefined ? [...captions] : clip.tokenizer.tokenize(captions, { contextLength: clip.config.contextLength, truncate: true });
  return encodeText(clip, ids);
}
