/**
 * Training the diffusion prior (unCLIP §2.2): it predicts the clean image embedding directly,
 *
 *   x_0 = √E · ẑ_i  (the normalised CLIP image embedding at unit variance per component, as `samplePrior` expects)
 *   x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε,   L = ‖f(x_t, t, z_t) − x_0‖²
 *
 * conditioned on the normalised text embedding z_t (and optionally text token features), with the text replaced by
 * the learned null condition in 10% of the rows for classifier-free guidance. Batches are tensors the trainer takes
 * over (disposed after their step).
 */
import * as tf from "@tensorflow/tfjs-core";
import { dropConditioning } from "./conditioning.js";
import { DDIMScheduler } from "./ddim-scheduler.js";
import type { DiffusionPrior } from "./diffusion-prior.js";
import { addNoise } from "./noise-schedule.js";
import { randomNormal } from "./random.js";
import { PRIOR_SCHEDULE, conditioningEmbeddings, normalizeEmbeddings } from "./sample.js";
import { drawTimesteps } from "./train-decoder.js";
import { trainLoop, type TrainOptions, type TrainResult } from "./trainer.js";

export interface PriorBatch {
  /** [B, E] CLIP text embeddings. */
  textEmbeddings: tf.Tensor2D;
  /** [B, E] CLIP image embeddings of the matching images. */
  imageEmbeddings: tf.Tensor2D;
  /** [B, T, textTokenDim] text token features, when the prior takes them; [B, T] mask (1 real, 0 padding). */
  textTokens?: tf.Tensor3D;
  textMask?: tf.Tensor2D;
}

export interface TrainPriorOptions extends TrainOptions {
  /** Fraction of rows trained with the null text (default 0.1). */
  conditionDropout?: number;
}

/** Trains `prior` on text/image embedding pairs; at the end it holds the EMA weights. */
export async function trainPrior(prior: DiffusionPrior, batches: AsyncIterable<PriorBatch>, options: TrainPriorOptions): Promise<TrainResult> {
  const what = "trainPrior";
  const E = prior.config.clipEmbedDim;
  const dropout = options.conditionDropout ?? 0.1;
  if (!(dropout >= 0 && dropout <= 1)) throw new RangeError(`${what}: conditionDropout must be in [0, 1], got ${dropout}`);
  const scheduler = new DDIMScheduler(PRIOR_SCHEDULE);
  return trainLoop(
    "prior",
    prior,
    batches,
    (batch, seed) => {
      for (const name of ["textEmbeddings", "imageEmbeddings"] as const) {
        const t = batch[name];
        if (!(t instanceof tf.Tensor) || t.rank !== 2 || t.shape[1] !== E || t.shape[0] !== batch.textEmbeddings.shape[0]) {
          throw new RangeError(`${what}: batch ${name} must be [B, ${E}] with the same B, got ${t instanceof tf.Tensor ? `[${t.shape.join(", ")}]` : typeof t}`);
        }
      }
      const batchSize = batch.textEmbeddings.shape[0];
      const x0 = tf.mul(normalizeEmbeddings(batch.imageEmbeddings), Math.sqrt(E)) as tf.Tensor2D;
      const timesteps = drawTimesteps(batchSize, scheduler.config.numTrainTimesteps, seed);
      const noise = randomNormal<tf.Rank.R2>(x0.shape, seed ^ 0x2545f491);
      const xt = addNoise(scheduler.alphasCumprod, x0, noise, timesteps);
      const prediction = prior.forward(xt, timesteps, {
        textEmbeddings: conditioningEmbeddings(batch.textEmbeddings),
        textTokens: batch.textTokens,
        textMask: batch.textMask,
        dropText: dropConditioning(batchSize, dropout, seed ^ 0x68e31da4),
        checkFinite: false,
      });
      return tf.mean(tf.square(tf.sub(prediction, x0))) as tf.Scalar;
    },
    (batch) => tf.dispose([batch.textEmbeddings, batch.imageEmbeddings, batch.textTokens, batch.textMask].filter((t) => t !== undefined)),
    options,
  );
}
