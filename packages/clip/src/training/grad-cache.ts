/**
 * Gradients of the contrastive loss for a whole batch, in one pass or with gradient caching (Gao et al. 2021,
 * "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"), which gives the same gradients while
 * holding activations for only `chunkSize` pairs at a time:
 *
 *   1. embed every chunk without gradients                      I, T: [N, E] (no tape, no activations kept)
 *   2. loss(I, T, s) and its gradients ∂L/∂I, ∂L/∂T, ∂L/∂s       (the cheap N × N part, on the whole batch)
 *   3. per chunk c, re-embed with gradients and backpropagate the cached ∂L/∂I_c, ∂L/∂T_c:
 *        ∂L/∂θ += ∂/∂θ [ Σ I_c(θ) ⊙ ∂L/∂I_c + Σ T_c(θ) ⊙ ∂L/∂T_c ]      (a vector–Jacobian product per chunk)
 *
 * Step 3 is exact by the chain rule: L depends on θ only through I and T, and rows of different chunks depend on θ
 * independently. The cost is one extra forward pass per step.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ClipModel } from "../clip-model.js";
import { checkContrastiveBatch, contrastiveAccuracy, contrastiveLoss } from "./contrastive-loss.js";

/** A prepared batch: N preprocessed NHWC images and their N token rows. */
export interface ContrastiveBatch {
  images: tf.Tensor4D; // [N, R, R, 3]
  ids: tf.Tensor2D; // [N, T] int32
}

export interface ContrastiveGradients {
  /** The loss on the whole batch (float32 scalar). */
  loss: tf.Scalar;
  /** Matching-pair accuracy on the batch, before the update (float32 scalar). */
  accuracy: tf.Scalar;
  /** ∂loss/∂θ by checkpoint key (as `model.parameters`), for every parameter that reaches the loss. */
  grads: Map<string, tf.Tensor>;
}

export interface ContrastiveGradientsOptions {
  /** Pairs per forward/backward pass; gradient caching when smaller than the batch (default: the whole batch at once). */
  chunkSize?: number;
}

/** The trainable parameters of a model loaded with `{ trainable: true }`; a clear error otherwise. */
export function trainableParameters(model: ClipModel, caller: string): ReadonlyMap<string, tf.Variable> {
  if (model.parameters === undefined) {
    throw new TypeError(`${caller}: the model is not trainable; load it with clipFromSafetensors(file, { trainable: true })`);
  }
  return model.parameters;
}

/** Checks a batch's shapes against the model; N ≥ 2 pairs, one caption row per image. */
export function checkBatch(model: ClipModel, batch: ContrastiveBatch, caller: string): void {
  const { images, ids } = batch;
  const { imageResolution, contextLength } = model.config;
  if (images.rank !== 4 || images.shape[1] !== imageResolution || images.shape[2] !== imageResolution || images.shape[3] !== 3) {
    throw new RangeError(`${caller}: images must be NHWC [N, ${imageResolution}, ${imageResolution}, 3], got [${images.shape.join(", ")}]`);
  }
  if (ids.rank !== 2 || ids.shape[1] !== contextLength || ids.dtype !== "int32") {
    throw new RangeError(`${caller}: token ids must be int32 [N, ${contextLength}], got ${ids.dtype} [${ids.shape.join(", ")}]`);
  }
  checkContrastiveBatch(images.shape[0], ids.shape[0], caller);
}

function checkChunkSize(chunkSize: number | undefined, caller: string): void {
  if (chunkSize !== undefined && !(Number.isInteger(chunkSize) && chunkSize > 0)) {
    throw new RangeError(`${caller}: chunkSize must be a positive integer, got ${chunkSize}`);
  }
}

/** Rows [start, start + size) of a batch tensor. */
function rows<T extends tf.Tensor>(x: T, start: number, size: number): T {
  const begin = x.shape.map((_, i) => (i === 0 ? start : 0));
  const extent = x.shape.map((d, i) => (i === 0 ? size : d));
  return tf.slice(x, begin, extent);
}

/**
 * ∂loss/∂θ of the contrastive loss on `batch` (see the module comment): in one pass when `chunkSize` is absent or at
 * least the batch size, else with gradient caching over chunks of `chunkSize` pairs. Everything returned belongs
 * to the caller; nothing else is left behind.
 */
export function contrastiveGradients(model: ClipModel, batch: ContrastiveBatch, options: ContrastiveGradientsOptions = {}): ContrastiveGradients {
  const parameters = trainableParameters(model, "contrastiveGradients");
  checkBatch(model, batch, "contrastiveGradients");
  checkChunkSize(options.chunkSize, "contrastiveGradients");
  const n = batch.images.shape[0];
  const chunkSize = Math.min(options.chunkSize ?? n, n);
  const logitScale = parameters.get("logit_scale")! as tf.Scalar;
  if (chunkSize === n) {
    const keyOf = new Map([...parameters].map(([key, v]) => [v.name, key]));
    let accuracy: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const imageFeatures = model.visual.forward(batch.images);
      const textFeatures = model.text.forward(batch.ids);
      accuracy = tf.keep(contrastiveAccuracy(imageFeatures, textFeatures));
      return contrastiveLoss(imageFeatures, textFeatures, logitScale);
    }, [...parameters.values()]);
    return { loss: value, accuracy: accuracy!, grads: new Map(Object.entries(grads).map(([name, g]) => [keyOf.get(name)!, g])) };
  }

  // 1. Embed every chunk without gradients.
  const { imageFeatures, textFeatures } = embedWithoutGradients(model, batch, chunkSize);
  // 2. The loss on the whole batch and its gradients with respect to the embeddings and the scale.
  const { loss, accuracy, dImages, dTexts, dScale } = embeddingGradients(imageFeatures, textFeatures, logitScale);
  tf.dispose([imageFeatures, textFeatures]);
  // 3. Re-embed each chunk with gradients and backpropagate the cached embedding gradients.
  try {
    const grads = backpropagateEmbeddingGradients(model, batch, dImages, dTexts, chunkSize);
    grads.set("logit_scale", dScale);
    return { loss, accuracy, grads };
  } catch (error) {
    tf.dispose([loss, accuracy, dScale]);
    throw error;
  } finally {
    tf.dispose([dImages, dTexts]);
  }
}

/** Step 1: image and text features [N, E] of `batch`, embedded `chunkSize` pairs at a time with no gradient tape. */
export function embedWithoutGradients(model: ClipModel, batch: ContrastiveBatch, chunkSize: number): { imageFeatures: tf.Tensor2D; textFeatures: tf.Tensor2D } {
  const n = batch.images.shape[0];
  const [imageFeatures, textFeatures] = tf.tidy(() => {
    const images: tf.Tensor2D[] = [];
    const texts: tf.Tensor2D[] = [];
    for (let start = 0; start < n; start += chunkSize) {
      const size = Math.min(chunkSize, n - start);
      images.push(model.visual.forward(rows(batch.images, start, size)));
      texts.push(model.text.forward(rows(batch.ids, start, size)));
    }
    return [tf.concat(images, 0), tf.concat(texts, 0)] as [tf.Tensor2D, tf.Tensor2D]; // [N, E] each
  });
  return { imageFeatures, textFeatures };
}

/** Step 2: the loss and accuracy on the whole batch, and ∂L/∂I, ∂L/∂T, ∂L/∂s. All returned tensors are the caller's. */
export function embeddingGradients(
  imageFeatures: tf.Tensor2D,
  textFeatures: tf.Tensor2D,
  logitScale: tf.Tensor,
): { loss: tf.Scalar; accuracy: tf.Scalar; dImages: tf.Tensor2D; dTexts: tf.Tensor2D; dScale: tf.Tensor } {
  const lossGrad = tf.valueAndGrads((i: tf.Tensor, t: tf.Tensor, s: tf.Tensor) => contrastiveLoss(i as tf.Tensor2D, t as tf.Tensor2D, s as tf.Scalar));
  const { value: loss, grads } = lossGrad([imageFeatures, textFeatures, logitScale]);
  const accuracy = contrastiveAccuracy(imageFeatures, textFeatures);
  return { loss, accuracy, dImages: grads[0] as tf.Tensor2D, dTexts: grads[1] as tf.Tensor2D, dScale: grads[2]! };
}

/**
 * Step 3: Σ over chunks of ∂/∂θ [Σ I_c(θ) ⊙ dImages_c + Σ T_c(θ) ⊙ dTexts_c], by checkpoint key, for every encoder
 * parameter (not logit_scale). dImages, dTexts: [N, E], rows as in `batch`.
 */
export function backpropagateEmbeddingGradients(
  model: ClipModel,
  batch: ContrastiveBatch,
  dImages: tf.Tensor2D,
  dTexts: tf.Tensor2D,
  chunkSize: number,
): Map<string, tf.Tensor> {
  const parameters = trainableParameters(model, "backpropagateEmbeddingGradients");
  const logitScale = parameters.get("logit_scale");
  const keyOf = new Map([...parameters].map(([key, v]) => [v.name, key]));
  const encoderVariables = [...parameters.values()].filter((v) => v !== logitScale);
  const n = batch.images.shape[0];
  const sums = new Map<string, tf.Tensor>();
  try {
    for (let start = 0; start < n; start += chunkSize) {
      const size = Math.min(chunkSize, n - start);
      const { value, grads } = tf.variableGrads(() => {
        const images = model.visual.forward(rows(batch.images, start, size)); // [c, E]
        const texts = model.text.forward(rows(batch.ids, start, size)); // [c, E]
        return tf.add(tf.sum(tf.mul(images, rows(dImages, start, size))), tf.sum(tf.mul(texts, rows(dTexts, start, size)))) as tf.Scalar;
      }, encoderVariables);
      value.dispose();
      for (const [name, grad] of Object.entries(grads)) {
        const key = keyOf.get(name)!;
        const sum = sums.get(key);
        if (sum === undefined) {
          sums.set(key, grad);
        } else {
          sums.set(key, tf.add(sum, grad));
          tf.dispose([sum, grad]);
        }
      }
    }
  } catch (error) {
    tf.dispose([...sums.values()]);
    throw error;
  }
  return sums;
}

