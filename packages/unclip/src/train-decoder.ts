/**
 * Training the decoder and the 2× upsampler (unCLIP §2.1; Ho et al. 2020's simple loss):
 *
 *   x_0 = 2·image − 1,  t ~ U{0 … T−1},  ε ~ N(0, I),  x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε
 *   L = ‖f(x_t, t, c) − target‖²   target = ε (or v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0 for v-prediction)
 *
 * Decoder: c = the normalised CLIP image embedding, replaced by the learned null embedding in 10% of the rows
 * (classifier-free guidance). Upsampler: c = the image downsampled 2× and corrupted by a Gaussian blur (the paper's
 * conditioning augmentation, `augmentLowRes`), so it tolerates the decoder's soft samples.
 *
 * Batches are tensors the trainer takes over (it disposes them after their step).
 */
import * as tf from "@tensorflow/tfjs-core";
import { dropConditioning } from "./conditioning.js";
import { DDIMScheduler } from "./ddim-scheduler.js";
import { uniformGenerator } from "./module.js";
import { addNoise, trainingTarget } from "./noise-schedule.js";
import { randomNormal } from "./random.js";
import { DECODER_SCHEDULE, conditioningEmbeddings } from "./sample.js";
import { trainLoop, type TrainOptions, type TrainResult } from "./trainer.js";
import type { UNet } from "./unet.js";
import { augmentLowRes, downsampleImages, randomCrops, type AugmentLowResOptions } from "./upsampler.js";

export interface DecoderBatch {
  /** [B, H, W, 3] in [0, 1], H = the decoder's imageSize. */
  images: tf.Tensor4D;
  /** [B, E] CLIP image embeddings of those images. */
  imageEmbeddings: tf.Tensor2D;
}

export interface UpsamplerBatch {
  /** [B, H, W, 3] in [0, 1] at the upsampler's (high) resolution; the low-resolution input is derived from them. */
  images: tf.Tensor4D;
}

export interface TrainDecoderOptions extends TrainOptions {
  /** Fraction of rows trained with the null embedding (default 0.1, unCLIP §2.1). */
  conditionDropout?: number;
}

export interface TrainUpsamplerOptions extends TrainOptions {
  /** The conditioning augmentation (default: blur σ ~ U[0.4, 0.6] low-resolution pixels, no noise). */
  augment?: Omit<AugmentLowResOptions, "seed">;
  /**
   * Train on one random square crop of this side per image (unCLIP Appendix C trains its upsamplers on crops; a
   * fully convolutional upsampler then samples whole images). Default: the whole image.
   */
  cropSize?: number;
}

/** Draws B integer timesteps in [0, T) from `seed`. */
export function drawTimesteps(batch: number, numTrainTimesteps: number, seed: number): number[] {
  const uniform = uniformGenerator(seed);
  return Array.from({ length: batch }, () => Math.floor(uniform() * numTrainTimesteps));
}

function checkImages(what: string, images: tf.Tensor, size: number): void {
  if (!(images instanceof tf.Tensor) || images.rank !== 4 || images.shape[1] !== size || images.shape[2] !== size || images.shape[3] !== 3) {
    const got = images instanceof tf.Tensor ? `[${images.shape.join(", ")}]` : typeof images;
    throw new RangeError(`${what}: batch images must be [B, ${size}, ${size}, 3] in [0, 1], got ${got}`);
  }
}

/** The noised input, its target and the timesteps for x_0 in [−1, 1]. Call inside a tidy. */
function noised(scheduler: DDIMScheduler, x0: tf.Tensor4D, seed: number): { xt: tf.Tensor4D; target: tf.Tensor4D; timesteps: number[] } {
  const timesteps = drawTimesteps(x0.shape[0], scheduler.config.numTrainTimesteps, seed);
  const noise = randomNormal<tf.Rank.R4>(x0.shape, seed ^ 0x2545f491);
  const xt = addNoise(scheduler.alphasCumprod, x0, noise, timesteps);
  const target = trainingTarget(scheduler.config.predictionType as "epsilon" | "v_prediction", scheduler.alphasCumprod, x0, noise, timesteps);
  return { xt, target, timesteps };
}

const mse = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.mean(tf.square(tf.sub(a, b))) as tf.Scalar;

/**
 * Trains `decoder` (a U-Net conditioned on CLIP image embeddings) on image/embedding batches; at the end it holds the
 * EMA weights. Options: steps, learning rate and warm-up, clipping, EMA, checkpoints and resume (`TrainOptions`).
 */
export async function trainDecoder(decoder: UNet, batches: AsyncIterable<DecoderBatch>, options: TrainDecoderOptions): Promise<TrainResult> {
  const what = "trainDecoder";
  const c = decoder.config;
  if (c.clipEmbedDim <= 0 || c.lowResChannels > 0) throw new TypeError(`${what}: the model is not a decoder (clipEmbedDim ${c.clipEmbedDim}, lowResChannels ${c.lowResChannels})`);
  const dropout = options.conditionDropout ?? 0.1;
  if (!(dropout >= 0 && dropout <= 1)) throw new RangeError(`${what}: conditionDropout must be in [0, 1], got ${dropout}`);
  const scheduler = new DDIMScheduler({ ...DECODER_SCHEDULE, predictionType: c.predictionType });
  return trainLoop(
    "decoder",
    decoder,
    batches,
    (batch, seed) => {
      checkImages(what, batch.images, c.imageSize);
      const e = batch.imageEmbeddings;
      if (!(e instanceof tf.Tensor) || e.rank !== 2 || e.shape[0] !== batch.images.shape[0] || e.shape[1] !== c.clipEmbedDim) {
        throw new RangeError(`${what}: batch imageEmbeddings must be [${batch.images.shape[0]}, ${c.clipEmbedDim}], got ${e instanceof tf.Tensor ? `[${e.shape.join(", ")}]` : typeof e}`);
      }
      const x0 = tf.sub(tf.mul(batch.images, 2), 1) as tf.Tensor4D;
      const { xt, target, timesteps } = noised(scheduler, x0, seed);
      const prediction = decoder.forward(xt, timesteps, {
        imageEmbeddings: conditioningEmbeddings(e),
        dropImageEmbedding: dropConditioning(x0.shape[0], dropout, seed ^ 0x68e31da4),
        checkFinite: false,
      });
      return mse(prediction, target);
    },
    (batch) => tf.dispose([batch.images, batch.imageEmbeddings]),
    options,
  );
}

/** Trains a 2× upsampler on high-resolution images (the low-resolution input is derived and augmented here). */
export async function trainUpsampler(upsampler: UNet, batches: AsyncIterable<UpsamplerBatch>, options: TrainUpsamplerOptions): Promise<TrainResult> {
  const what = "trainUpsampler";
  const c = upsampler.config;
  if (c.lowResChannels <= 0) throw new TypeError(`${what}: the model is not an upsampler (lowResChannels 0)`);
  const factor = c.imageSize / c.lowResSize;
  const scheduler = new DDIMScheduler({ ...DECODER_SCHEDULE, predictionType: c.predictionType });
  return trainLoop(
    "upsampler",
    upsampler,
    batches,
    (batch, seed) => {
      checkImages(what, batch.images, c.imageSize);
      const images = options.cropSize === undefined ? batch.images : randomCrops(batch.images, options.cropSize, seed ^ 0x7f4a7c15, factor);
      const x0 = tf.sub(tf.mul(images, 2), 1) as tf.Tensor4D;
      const lowRes = augmentLowRes(downsampleImages(x0, factor), { ...options.augment, seed: seed ^ 0x1b873593 });
      const { xt, target, timesteps } = noised(scheduler, x0, seed);
      return mse(upsampler.forward(xt, timesteps, { lowRes, checkFinite: false }), target);
    },
    (batch) => batch.images.dispose(),
    options,
  );
}
