/**
 * The 2× diffusion upsampler is a `UNet` whose config has `lowResChannels > 0` (TINY_UPSAMPLER, SMALL_UPSAMPLER):
 * the low-resolution image is bilinearly upsampled and concatenated to x_t on the channel axis. This file holds the
 * data side of training it:
 *
 * - `randomCrops`: unCLIP (Appendix C) trains its upsamplers on random crops of ¼ the target size; the U-Net is
 *   convolutional (attention only at the lowest resolution), so an upsampler accepts square crops.
 * - `downsampleImages`: the low-resolution training input, a box filter (average of each factor×factor block).
 * - `augmentLowRes`: unCLIP §2.1 / Appendix C: "we corrupt the conditioning images with Gaussian blur for the first
 *   upsampler" (noise conditioning augmentation, Ho et al. 2021 "Cascaded Diffusion Models"), so the upsampler learns
 *   to tolerate the artefacts of the decoder's samples. Per image, a Gaussian blur with σ ~ U[blurSigma] (reflect-padded,
 *   separable) and optional Gaussian noise with std ~ U[0, noiseStd].
 * Both are deterministic per seed and need no gradient.
 */
import * as tf from "@tensorflow/tfjs-core";
import { normalGenerator, uniformGenerator } from "./module.js";

/** [B, H, W, C] → [B, H/factor, W/factor, C], the mean of each block. */
export function downsampleImages(images: tf.Tensor4D, factor = 2): tf.Tensor4D {
  const [, height, width] = images.shape;
  if (!Number.isInteger(factor) || factor < 1 || height % factor !== 0 || width % factor !== 0) {
    throw new RangeError(`downsampleImages: factor ${factor} must be a positive integer dividing ${height}×${width}`);
  }
  return tf.avgPool(images, factor, factor, "valid");
}

export interface AugmentLowResOptions {
  seed: number;
  /** Range of the blur's σ in low-resolution pixels (default [0.4, 0.6], Karlo's 64→256 upsampler). */
  blurSigma?: readonly [number, number];
  /** Probability that an image is blurred at all (default 1). */
  blurProbability?: number;
  /** Noise std drawn per image from U[0, noiseStd] (default 0: no noise). */
  noiseStd?: number;
}

/** The 1-D Gaussian taps for σ, radius ⌈3σ⌉ (at least 1), normalised to sum 1. */
export function gaussianKernel1d(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const taps = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += taps[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
  return taps.map((v) => v / sum);
}

/** images: [B, h, w, C] (any value range) → the same shape, blurred and noised per image. */
export function augmentLowRes(images: tf.Tensor4D, options: AugmentLowResOptions): tf.Tensor4D {
  const [batch, , , channels] = images.shape;
  const [lo, hi] = options.blurSigma ?? [0.4, 0.6];
  const blurProbability = options.blurProbability ?? 1;
  const noiseStd = options.noiseStd ?? 0;
  if (!(lo > 0 && hi >= lo)) throw new RangeError(`augmentLowRes: blurSigma must be 0 < min ≤ max, got [${lo}, ${hi}]`);
  if (!(noiseStd >= 0)) throw new RangeError(`augmentLowRes: noiseStd must be ≥ 0, got ${noiseStd}`);
  const uniform = uniformGenerator(options.seed);
  const normal = normalGenerator(options.seed ^ 0x9e3779b9);
  return tf.tidy(() => {
    const out: tf.Tensor4D[] = [];
    for (let b = 0; b < batch; b++) {
      let image = tf.slice(images, [b, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D; // [1, h, w, C]
      const sigma = lo + (hi - lo) * uniform();
      if (uniform() < blurProbability) {
        const taps = gaussianKernel1d(sigma);
        const radius = (taps.length - 1) / 2;
        const tapsPerChannel = new Float32Array(taps.length * channels);
        taps.forEach((v, i) => tapsPerChannel.fill(v, i * channels, (i + 1) * channels));
        const padded = tf.mirrorPad(image, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "reflect");
        const rows = tf.depthwiseConv2d(padded, tf.tensor4d(tapsPerChannel, [taps.length, 1, channels, 1]), 1, "valid");
        image = tf.depthwiseConv2d(rows, tf.tensor4d(tapsPerChannel, [1, taps.length, channels, 1]), 1, "valid");
      }
      if (noiseStd > 0) {
        const std = noiseStd * uniform();
        const noise = Float32Array.from({ length: image.size }, () => normal() * std);
        image = tf.add(image, tf.tensor(noise, image.shape)) as tf.Tensor4D;
      }
      out.push(image);
    }
    return tf.concat(out, 0) as tf.Tensor4D;
  });
}

/**
 * One random square crop of side `size` per image, at offsets that are multiples of `alignment` (the upsampling
 * factor, so a downsampled crop lines up with the low-resolution pixel grid). Deterministic per seed.
 */
export function randomCrops(images: tf.Tensor4D, size: number, seed: number, alignment = 2): tf.Tensor4D {
  const [batch, height, width] = images.shape;
  if (!Number.isInteger(size) || size <= 0 || size > height || size > width || size % alignment !== 0) {
    throw new RangeError(`randomCrops: size ${size} must be a positive multiple of ${alignment} no larger than ${height}×${width}`);
  }
  const uniform = uniformGenerator(seed);
  const offset = (extent: number) => alignment * Math.floor(uniform() * (Math.floor((extent - size) / alignment) + 1));
  return tf.tidy(() => {
    const crops: tf.Tensor4D[] = [];
    for (let b = 0; b < batch; b++) crops.push(tf.slice(images, [b, offset(height), offset(width), 0], [1, size, size, -1]));
    return tf.concat(crops, 0) as tf.Tensor4D;
  });
}
