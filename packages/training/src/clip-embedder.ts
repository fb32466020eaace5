/**
 * The trained CLIP that the prior and the decoder learn from: packages/clip/models/clip.safetensors (or --clip), with its own
 * tokenizer, embedding emoji batches exactly as `train:clip` fed them (32×32, CLIP-normalised).
 */
import { existsSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { CLIP_MEAN, CLIP_STD, encodeImage, encodeText, loadClip, type ClipModel, type ClipTrainingBatch } from "@proj/clip";
import type { AugmentOptions, EmojiDataset } from "@proj/training-data";

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

/**
 * `trainClip`'s `batches`: the dataset's augmented batches at `size`×`size`, CLIP-normalised (as CLIP's preprocessing
 * does), endless; the stream restarts at any step (`start.step` batches skipped), so a resumed run sees the same data.
 */
export function clipTrainingBatches(
  dataset: EmojiDataset,
  o: { batchSize: number; seed: number; augment: AugmentOptions; size: number },
): (start: { step: number }) => AsyncGenerator<ClipTrainingBatch> {
  return async function* batches(start) {
    for await (const batch of dataset.batches({ batchSize: o.batchSize, seed: o.seed, epochs: 1_000_000, dropLast: true, skipBatches: start.step, augment: o.augment, size: o.size })) {
      const images = new Float32Array(batch.images.length);
      for (let i = 0; i < images.length; i++) images[i] = (batch.images[i]! - CLIP_MEAN[i % 3]!) / CLIP_STD[i % 3]!;
      yield { images, captions: batch.captions };
    }
  };
}
