/**
 * CLIP's symmetric contrastive loss (Radford et al. 2021, Figure 3; InfoNCE, van den Oord et al. 2018): for a batch
 * of N matching (image, text) pairs,
 *
 *   Î = normalize(I), T̂ = normalize(T)              // [N, E], unit rows
 *   logits = exp(s) · Î T̂ᵀ                           // [N, N], row i: image i against every text
 *   loss = ½ (CE(logits, diag) + CE(logitsᵀ, diag))   // cross-entropy of each row / column to its own pair
 *
 * s = logit_scale is learned as a log (init log(1/0.07)) and clamped here at log(100), so the temperature never
 * exceeds 100 (the paper's "clipped to prevent scaling the logits by more than 100"; open_clip clamps the parameter
 * after each step too, which the trainer also does).
 *
 * The cross-entropies never build an N × N one-hot matrix: CE(logits, diag) = mean_i(logsumexp_j logits[i, j]) −
 * mean_i(logits[i, i]), and the diagonal is exp(s) · Σ_e Î[i, e] T̂[i, e].
 */
import * as tf from "@tensorflow/tfjs-core";

/** The largest temperature exp(s) the loss uses. */
export const MAX_LOGIT_SCALE = 100;

/** Throws a RangeError naming the problem when the two feature batches cannot form a contrastive batch. */
export function checkContrastiveBatch(imageCount: number, textCount: number, caller: string): void {
  if (imageCount !== textCount) throw new RangeError(`${caller}: ${imageCount} images but ${textCount} captions; a contrastive batch needs one caption per image`);
  if (imageCount < 2) throw new RangeError(`${caller}: a contrastive batch needs at least 2 pairs (got ${imageCount}): with one pair there is nothing to contrast`);
}

function checkFeatures(imageFeatures: tf.Tensor, textFeatures: tf.Tensor, caller: string): void {
  if (imageFeatures.rank !== 2 || textFeatures.rank !== 2) {
    throw new RangeError(`${caller}: features must be [N, E], got [${imageFeatures.shape.join(", ")}] and [${textFeatures.shape.join(", ")}]`);
  }
  checkContrastiveBatch(imageFeatures.shape[0]!, textFeatures.shape[0]!, caller);
  if (imageFeatures.shape[1] !== textFeatures.shape[1]) {
    throw new RangeError(`${caller}: image features have width ${imageFeatures.shape[1]}, text features ${textFeatures.shape[1]}`);
  }
}

const normalize = (x: tf.Tensor2D): tf.Tensor2D => tf.div(x, tf.norm(x, 2, 1, true));

/**
 * The symmetric contrastive loss (module comment). imageFeatures, textFeatures: [N, E], not normalised; row i of
 * each is pair i. logitScale: the scalar s (a log; clamped at log 100). Differentiable in all three. N ≥ 2.
 */
export function contrastiveLoss(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, logitScale: tf.Scalar): tf.Scalar {
  checkFeatures(imageFeatures, textFeatures, "contrastiveLoss");
  return tf.tidy(() => {
    const scale = tf.exp(tf.minimum(logitScale, Math.log(MAX_LOGIT_SCALE))); // exp(s) ≤ 100
    const images = normalize(imageFeatures); // [N, E]
    const texts = normalize(textFeatures); // [N, E]
    const logits = tf.mul(tf.matMul(images, texts, false, true), scale); // [N, N] logits per image
    const matching = tf.mean(tf.mul(tf.sum(tf.mul(images, texts), 1), scale)); // mean_i logits[i, i]
    const imageToText = tf.mean(tf.logSumExp(logits, 1)); // mean over images of logsumexp over texts
    const textToImage = tf.mean(tf.logSumExp(logits, 0)); // mean over texts of logsumexp over images
    return tf.sub(tf.mul(tf.add(imageToText, textToImage), 0.5), matching) as tf.Scalar;
  });
}

/**
 * Matching-pair accuracy: the fraction of images whose most similar text is their own, and of texts whose most similar
 * image is theirs, averaged (chance: 1/N). A float32 scalar.
 */
export function contrastiveAccuracy(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D): tf.Scalar {
  checkFeatures(imageFeatures, textFeatures, "contrastiveAccuracy");
  return tf.tidy(() => {
    const n = imageFeatures.shape[0];
    const similarity = tf.matMul(normalize(imageFeatures), normalize(textFeatures), false, true); // [N, N]
    const own = tf.range(0, n, 1, "int32");
    const imageHits = tf.sum(tf.cast(tf.equal(tf.argMax(similarity, 1), own), "float32"));
    const textHits = tf.sum(tf.cast(tf.equal(tf.argMax(similarity, 0), own), "float32"));
    return tf.div(tf.add(imageHits, textHits), 2 * n) as tf.Scalar;
  });
}
