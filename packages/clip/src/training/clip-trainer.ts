/**
 * Contrastive training of a CLIP model (Radford et al. 2021, §2.5), written as a short loop over swappable parts:
 *
 *   1. check options; make the AdamW optimizer (no decay on gains, biases, embeddings, logit_scale)
 *   2. resume from the checkpoint when there is one (weights, optimizer state, step, data seed)
 *   3. for each batch: tokens and tensors → gradients of the symmetric contrastive loss (gradient caching over
 *      `chunkSize` pairs when set) → optional clipping → AdamW at the scheduled learning rate → clamp logit_scale
 *      to [0, log 100] (as open_clip) → progress → checkpoint every `every` steps
 *   4. stop at `steps`, at the end of the data, or on abort (writing a checkpoint first, then throwing the reason)
 *
 * Batches come from any async iterable, or from a factory called with the step and seed to start at, so a
 * deterministic loader (e.g. `skipBatches` of the emoji loader) resumes the same stream after a restart.
 */
import type * as FsPromises from "node:fs/promises";
import * as tf from "@tensorflow/tfjs-core";
import { AdamW, clipGradNorm } from "@proj/tensor-kernels";
import { ClipTokenizer } from "@proj/tokenizer";
import type { ClipModel } from "../clip-model.js";
import { MAX_LOGIT_SCALE } from "./contrastive-loss.js";
import { DataParallelClip, type DataParallelOptions } from "./data-parallel.js";
import { checkBatch, contrastiveGradients, trainableParameters, type ContrastiveBatch } from "./grad-cache.js";
import { restoreTrainingCheckpoint, serializeTrainingCheckpoint, type TrainingPosition } from "./training-checkpoint.js";

/** One batch of matching pairs. */
export interface ClipTrainingBatch {
  /** Model-ready images (preprocessed, NHWC): [B, R, R, 3] floats, or a tensor (kept by the caller). */
  images: Float32Array | tf.Tensor4D;
  /** Captions (tokenized with `tokenize`), or token rows: B·T ids or an int32 tensor [B, T] (kept by the caller). */
  captions: readonly string[] | Int32Array | tf.Tensor2D;
}

/** Batches from the start of the stream, or from `step` on (a resumed run) with the run's data `seed`. */
export type ClipBatchSource =
  | AsyncIterable<ClipTrainingBatch>
  | Iterable<ClipTrainingBatch>
  | ((start: TrainingPosition) => AsyncIterable<ClipTrainingBatch> | Iterable<ClipTrainingBatch>);

export interface TrainClipProgress {
  /** Steps done (1 after the first update). */
  step: number;
  /** The target `steps`. */
  steps: number;
  /** The contrastive loss of this step's batch, before its update. */
  loss: number;
  /** Matching-pair accuracy on this step's batch, before its update (chance: 1 / batch size). */
  accuracy: number;
  learningRate: number;
  /** exp(logit_scale) after the update. */
  logitScale: number;
  /** Steps per second over this step (data wait included). */
  stepsPerSecond: number;
  batchSize: number;
}

export interface TrainClipCheckpoint {
  /** A file (Node): read at the start when it exists; written (atomically) every `every` steps, at the end and on abort. */
  path?: string;
  /** Or: your own storage. `load` returns the last saved bytes, or undefined to start afresh. */
  save?: (bytes: Uint8Array, step: number) => void | Promise<void>;
  load?: () => Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Steps between checkpoints. */
  every: number;
}

export interface TrainClipOptions {
  /** A model loaded with `{ trainable: true }` (e.g. from `initClip`); its variables are updated in place. */
  model: ClipModel;
  batches: ClipBatchSource;
  /** Total optimizer steps (a resumed run counts the steps already taken). */
  steps: number;
  /** A constant, or a function of the step (0-based), e.g. `cosineSchedule(…)`. */
  learningRate: number | ((step: number) => number);
  /** AdamW's decoupled weight decay (default 0.2, as CLIP). */
  weightDecay?: number;
  /** AdamW's β₁, β₂ (default 0.9, 0.98, as CLIP's ViTs). */
  betas?: readonly [number, number];
  /** AdamW's ε (default 1e-6, as CLIP's ViTs). */
  epsilon?: number;
  /** Clip the global gradient norm to this (default: no clipping). */
  maxGradNorm?: number;
  /** Pairs per forward/backward pass; gradient caching when smaller than a batch (default: whole batches). */
  chunkSize?: number;
  /** Turns caption strings into token rows [B·contextLength] (default: CLIP's tokenizer at the model's context length). */
  tokenize?: (captions: readonly string[]) => Int32Array | Promise<Int32Array>;
  /** The data seed handed to a batch factory (default 0; a resumed run uses the checkpoint's). */
  seed?: number;
  onProgress?: (progress: TrainClipProgress) => void;
  /** Stops between steps (and while waiting for data): writes a checkpoint when configured, then throws the reason. */
  signal?: AbortSignal;
  checkpoint?: TrainClipCheckpoint;
  /**
   * Data-parallel training (Node): split every batch between the main thread and this many worker threads, each with
   * its own backend (data-parallel.ts). 1 keeps both cores of a 2-core machine busy. Default 0: the main thread only.
   */
  workers?: number | DataParallelOptions;
}

export interface TrainClipResult {
  /** Steps done in total (including resumed ones). */
  step: number;
  /** The step the run resumed from (0 when it started afresh). */
  resumedFrom: number;
  /** Loss and accuracy of the last step (NaN when no step ran). */
  loss: number;
  accuracy: number;
}

const FS_PROMISES = "node:fs/promises";

interface CheckpointStore {
  load(): Promise<Uint8Array | undefined>;
  save(bytes: Uint8Array, step: number): Promise<void>;
}

function checkpointStore(checkpoint: TrainClipCheckpoint): CheckpointStore {
  if (!(Number.isInteger(checkpoint.every) && checkpoint.every > 0)) {
    throw new RangeError(`trainClip: checkpoint.every must be a positive integer, got ${checkpoint.every}`);
  }
  const { path, save, load } = checkpoint;
  if ((path === undefined) === (save === undefined)) throw new TypeError("trainClip: checkpoint needs either `path` or `save` (and optionally `load`)");
  if (path !== undefined) {
    // Computed specifier: bundlers leave node:fs alone (browsers use save/load callbacks).
    const fs = async () => (await import(/* @vite-ignore */ FS_PROMISES)) as typeof FsPromises;
    return {
      async load() {
        try {
          const buffer = await (await fs()).readFile(path);
          return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        } catch (error) {
          if ((error as { code?: string }).code === "ENOENT") return undefined;
          throw error;
        }
      },
      async save(bytes) {
        const { writeFile, rename } = await fs();
        await writeFile(`${path}.partial`, bytes);
        await rename(`${path}.partial`, path); // a crash mid-write leaves the previous checkpoint intact
      },
    };
  }
  return { load: async () => (load === undefined ? undefined : await load()), save: async (bytes, step) => save!(bytes, step) };
}

function checkOptions(options: TrainClipOptions): void {
  const { steps, learningRate, chunkSize, maxGradNorm } = options;
  trainableParameters(options.model, "trainClip");
  if (tf.getGradient(tf.Add) === undefined) {
    // tfjs-core's Node bundle registers no op gradients; @tensorflow/tfjs's bundle (and tfjs-core's ESM build) do.
    throw new Error('trainClip: no op gradients are registered (e.g. for Add): import "@tensorflow/tfjs" before training');
  }
  if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`trainClip: steps must be an integer ≥ 0, got ${steps}`);
  if (typeof learningRate !== "function" && !(Number.isFinite(learningRate) && learningRate >= 0)) {
    throw new RangeError(`trainClip: learningRate must be a number ≥ 0 or a function of the step, got ${learningRate}`);
  }
  if (chunkSize !== undefined && !(Number.isInteger(chunkSize) && chunkSize > 0)) throw new RangeError(`trainClip: chunkSize must be a positive integer, got ${chunkSize}`);
  if (maxGradNorm !== undefined && !(maxGradNorm > 0)) throw new RangeError(`trainClip: maxGradNorm must be > 0, got ${maxGradNorm}`);
  const workers = typeof options.workers === "object" ? options.workers.workers : options.workers;
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) throw new RangeError(`trainClip: workers must be an integer ≥ 0, got ${workers}`);
}

let defaultTokenizer: Promise<ClipTokenizer> | undefined;

/** A batch as tensors the model takes; `owned` lists the tensors made here (the caller's stay the caller's). */
async function toTensors(
  model: ClipModel,
  batch: ClipTrainingBatch,
  tokenize: TrainClipOptions["tokenize"],
): Promise<{ batch: ContrastiveBatch; owned: tf.Tensor[] }> {
  const { imageResolution: R, contextLength: T } = model.config;
  const owned: tf.Tensor[] = [];
  let images: tf.Tensor4D;
  if (batch.images instanceof tf.Tensor) {
    images = batch.images;
  } else if (batch.images instanceof Float32Array) {
    if (batch.images.length % (R * R * 3) !== 0) {
      throw new RangeError(`trainClip: ${batch.images.length} image values is not a whole number of ${R}×${R}×3 images`);
    }
    images = tf.tensor4d(batch.images, [batch.images.length / (R * R * 3), R, R, 3]);
    owned.push(images);
  } else {
    throw new TypeError("trainClip: batch.images must be a Float32Array [B, R, R, 3] or a tf.Tensor4D");
  }
  let ids: tf.Tensor2D;
  if (batch.captions instanceof tf.Tensor) {
    ids = batch.captions;
  } else {
    let rows: Int32Array;
    if (batch.captions instanceof Int32Array) {
      rows = batch.captions;
    } else if (Array.isArray(batch.captions)) {
      if (tokenize !== undefined) {
        rows = await tokenize(batch.captions);
      } else {
        defaultTokenizer ??= ClipTokenizer.load();
        rows = (await defaultTokenizer).tokenize(batch.captions, { contextLength: T });
      }
    } else {
      throw new TypeError("trainClip: batch.captions must be strings, an Int32Array of token rows or a tf.Tensor2D");
    }
    if (rows.length % T !== 0) throw new RangeError(`trainClip: ${rows.length} token ids is not a whole number of rows of ${T}`);
    ids = tf.tensor2d(rows, [rows.length / T, T], "int32");
    owned.push(ids);
  }
  const prepared = { images, ids };
  try {
    checkBatch(model, prepared, "trainClip");
  } catch (error) {
    tf.dispose(owned);
    throw error;
  }
  return { batch: prepared, owned };
}

/** The next item, or the abort reason as a rejection as soon as `signal` aborts. */
function nextOrAbort<T>(iterator: AsyncIterator<T> | Iterator<T>, signal: AbortSignal | undefined): Promise<IteratorResult<T>> {
  const next = Promise.resolve(iterator.next());
  if (signal === undefined) return next;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    next.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Trains `options.model` in place (see the module comment) and resolves with where it stopped. Rejects with the
 * signal's reason on abort (after writing a checkpoint when configured). Leaves no tensors behind.
 */
export async function trainClip(options: TrainClipOptions): Promise<TrainClipResult> {
  // 1. Options and optimizer.
  checkOptions(options);
  const { model, steps, signal, onProgress } = options;
  const parameters = trainableParameters(model, "trainClip");
  const schedule = typeof options.learningRate === "function" ? options.learningRate : () => options.learningRate as number;
  const store = options.checkpoint === undefined ? undefined : checkpointStore(options.checkpoint);
  const every = options.checkpoint?.every ?? Infinity;
  signal?.throwIfAborted();
  const optimizer = new AdamW(parameters, {
    weightDecay: options.weightDecay ?? 0.2,
    betas: options.betas ?? [0.9, 0.98],
    epsilon: options.epsilon ?? 1e-6,
  });
  const logitScale = parameters.get("logit_scale")!;
  let position: TrainingPosition = { step: 0, seed: options.seed ?? 0 };
  let savedStep = -1;
  const result = { step: 0, resumedFrom: 0, loss: Number.NaN, accuracy: Number.NaN };
  let parallel: DataParallelClip | undefined;
  const saveCheckpoint = async () => {
    if (store === undefined || savedStep === position.step) return;
    await store.save(await serializeTrainingCheckpoint(model, optimizer, position), position.step);
    savedStep = position.step;
  };
  try {
    // 2. Resume.
    const stored = await store?.load();
    if (stored !== undefined) {
      position = restoreTrainingCheckpoint(stored, model, optimizer);
      savedStep = position.step;
    }
    result.resumedFrom = result.step = position.step;
    const workers = typeof options.workers === "number" ? { workers: options.workers } : options.workers;
    parallel = workers !== undefined && workers.workers > 0 ? await DataParallelClip.start(model, workers) : undefined;
    const source = typeof options.batches === "function" ? options.batches({ ...position }) : options.batches;
    const iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (source as Iterable<ClipTrainingBatch>)[Symbol.iterator]();
    let last = performance.now();
    try {
      // 3. Steps.
      while (position.step < steps) {
        signal?.throwIfAborted();
        const next = await nextOrAbort(iterator, signal);
        if (next.done === true) break;
        signal?.throwIfAborted();
        const { batch, owned } = await toTensors(model, next.value, options.tokenize);
        const learningRate = schedule(position.step);
        let loss: tf.Scalar;
        let accuracy: tf.Scalar;
        try {
          const computed =
            parallel === undefined ? contrastiveGradients(model, batch, { chunkSize: options.chunkSize }) : await parallel.gradients(batch, options.chunkSize);
          ({ loss, accuracy } = computed);
          let grads = computed.grads;
          if (options.maxGradNorm !== undefined) {
            const clipped = clipGradNorm(grads, options.maxGradNorm);
            tf.dispose([...grads.values(), clipped.totalNorm]);
            grads = clipped.grads;
          }
          optimizer.step(grads, learningRate);
          tf.dispose([...grads.values()]);
          tf.tidy(() => logitScale.assign(tf.clipByValue(logitScale, 0, Math.log(MAX_LOGIT_SCALE))));
          await parallel?.syncWeights();
        } finally {
          tf.dispose(owned);
        }
        const [lossValue, accuracyValue, scaleValue] = await Promise.all([loss.data(), accuracy.data(), logitScale.data()]);
        tf.dispose([loss, accuracy]);
        position = { ...position, step: position.step + 1 };
        result.step = position.step;
        result.loss = lossValue[0]!;
        result.accuracy = accuracyValue[0]!;
        const now = performance.now();
        onProgress?.({
          step: position.step,
          steps,
          loss: result.loss,
          accuracy: result.accuracy,
          learningRate,
          logitScale: Math.exp(scaleValue[0]!),
          stepsPerSecond: 1000 / (now - last),
          batchSize: batch.images.shape[0],
        });
        last = now;
        if (position.step % every === 0) await saveCheckpoint();
      }
    } catch (error) {
      // 4. Abort: keep what was done.
      if (signal?.aborted === true && error === signal.reason) await saveCheckpoint();
      throw error;
    } finally {
      // Close the stream; after an abort do not wait for it (a pending read may be slow).
      const closing = Promise.resolve((iterator as AsyncIterator<ClipTrainingBatch>).return?.()).catch(() => undefined);
      if (signal?.aborted !== true) await closing;
    }
    // 4. The end of the steps or of the data.
    await saveCheckpoint();
    return result;
  } finally {
    optimizer.dispose();
    await parallel?.close();
  }
}
