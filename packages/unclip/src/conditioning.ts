/**
 * Conditioning helpers shared by the decoder and the prior: classifier-free guidance's training-time dropout
 * (Ho & Salimans 2022; unCLIP §2.1 drops the CLIP embedding 10% of the time and the text 50%), replacing dropped rows
 * by a learned null embedding, key masks for padded or dropped text tokens, and input checks with clear messages.
 */
import * as tf from "@tensorflow/tfjs-core";
import { uniformGenerator } from "./module.js";

/**
 * Which rows of a batch to drop: an independent Bernoulli(probability) draw per row, deterministic per seed.
 * `embeddings` is the batch (its first axis) or the batch size. Pass the result as the model's `drop…` option.
 */
export function dropConditioning(embeddings: tf.Tensor | number, probability: number, seed: number): boolean[] {
  const batch = typeof embeddings === "number" ? embeddings : embeddings.shape[0]!;
  if (!Number.isInteger(batch) || batch < 0) throw new RangeError(`dropConditioning: batch size must be a non-negative integer, got ${batch}`);
  if (!(probability >= 0 && probability <= 1)) throw new RangeError(`dropConditioning: probability must be in [0, 1], got ${probability}`);
  if (!Number.isInteger(seed)) throw new RangeError(`dropConditioning: seed must be an integer, got ${seed}`);
  const uniform = uniformGenerator(seed ^ 0x5bd1e995);
  return Array.from({ length: batch }, () => uniform() < probability);
}

/**
 * Rows of `embeddings` [B, E] where `drop[b]` replaced by `nullEmbedding` [E]; differentiable with respect to both
 * (the null embedding learns from the dropped rows).
 */
export function replaceDropped(embeddings: tf.Tensor2D, nullEmbedding: tf.Tensor, drop: readonly boolean[] | undefined): tf.Tensor2D {
  if (drop === undefined || !drop.some(Boolean)) return tf.clone(embeddings);
  return tf.tidy(() => {
    const batch = embeddings.shape[0];
    const keep = tf.tensor2d(drop.map((d) => (d ? 0 : 1)), [batch, 1]); // [B, 1]
    return tf.add(tf.mul(embeddings, keep), tf.mul(tf.expandDims(nullEmbedding, 0), tf.sub(1, keep))) as tf.Tensor2D;
  });
}

/** Additive score bias for masked keys: large and finite, so exp underflows to exactly 0 without −∞ arithmetic. */
export const MASKED_SCORE = -1e9;

/**
 * The additive key bias [B, 1, 1, T] for text tokens: 0 where `mask[b, t]` is non-zero and the row is not dropped,
 * MASKED_SCORE elsewhere. `mask` [B, T] (1 = real token, 0 = padding) defaults to all ones.
 */
export function textKeyBias(batch: number, tokens: number, mask: tf.Tensor2D | undefined, drop: readonly boolean[] | undefined): tf.Tensor4D {
  return tf.tidy(() => {
    let keep: tf.Tensor = mask === undefined ? tf.ones([batch, tokens]) : tf.cast(tf.notEqual(mask, 0), "float32"); // [B, T]
    if (drop !== undefined) keep = tf.mul(keep, tf.tensor2d(drop.map((d) => (d ? 0 : 1)), [batch, 1]));
    return tf.reshape(tf.mul(tf.sub(1, keep), MASKED_SCORE), [batch, 1, 1, tokens]) as tf.Tensor4D;
  });
}

/** Throws a RangeError naming `what` when `t` holds a NaN or ±∞ (reads the values back). */
export function assertFinite(what: string, t: tf.Tensor): void {
  const values = t.dataSync();
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new RangeError(`${what} contains ${Number.isNaN(values[i]!) ? "NaN" : "an infinite value"} (at flat index ${i})`);
    }
  }
}

/** Throws when `t` is not [dims…] exactly (−1 = any size), naming `what` and the expected meaning. */
export function assertShape(what: string, t: tf.Tensor, dims: readonly number[], meaning: string): void {
  const ok = t.rank === dims.length && dims.every((d, i) => d < 0 || t.shape[i] === d);
  if (!ok) {
    const expected = dims.map((d) => (d < 0 ? "*" : String(d))).join(", ");
    throw new RangeError(`${what} must have shape [${expected}] ${meaning}, got [${t.shape.join(", ")}]`);
  }
}

/** Throws when `drop` is given with a length other than the batch size. */
export function assertDropLength(what: string, drop: readonly boolean[] | undefined, batch: number): void {
  if (drop !== undefined && drop.length !== batch) {
    throw new RangeError(`${what} has ${drop.length} entries but the batch has ${batch} rows`);
  }
}
