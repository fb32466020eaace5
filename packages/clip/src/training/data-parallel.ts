/**
 * Data-parallel CLIP training over worker threads (Node): the main thread and `workers` worker threads each hold a
 * replica of the model on their own tfjs backend, and each batch is split into one shard per replica. With gradient
 * caching (grad-cache.ts) the contrastive loss over the whole batch needs only the embeddings:
 *
 *   1. every replica embeds its shard without gradients, in parallel            → I, T [N, E] gathered on the main thread
 *   2. the main thread computes the loss and ∂L/∂I, ∂L/∂T, ∂L/∂s on the whole batch (cheap)
 *   3. every replica backpropagates its rows of ∂L/∂I, ∂L/∂T through its shard, in parallel
 *   4. the main thread sums the shard gradients (their sum is the whole batch's gradient: the loss is already the
 *      batch mean, so this is what "averaging" per-replica gradients of per-replica mean losses would approximate),
 *      updates its weights with AdamW, and sends the new weights to every worker.
 *
 * So the step equals the single-thread step up to float32 summation order. Worker replicas run in their own
 * isolate with their own wasm heap: on a 2-core machine one worker plus the main thread keeps both cores busy.
 */
import type * as WorkerThreads from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import type { ClipModel } from "../clip-model.js";
import { backpropagateEmbeddingGradients, checkBatch, embedWithoutGradients, embeddingGradients, trainableParameters, type ContrastiveBatch, type ContrastiveGradients } from "./grad-cache.js";
import type { WorkerReply, WorkerRequest } from "./data-parallel-worker.js";
import { serializeTrainableClip } from "./training-checkpoint.js";

export interface DataParallelOptions {
  /** Worker threads besides the main thread (≥ 1). */
  workers: number;
  /** The worker script (default: data-parallel-worker.js beside this module). */
  workerUrl?: URL;
  /**
   * Modules each worker imports first (default `["@tensorflow/tfjs"]`: in Node only its bundle registers the op
   * gradients that training needs; tfjs-core's registers none).
   */
  workerImports?: readonly string[];
  /**
   * Options for Node's `new Worker` (`worker_threads.WorkerOptions`, e.g. `workerData` for a bootstrap script that
   * runs the TypeScript sources). Typed loosely so the package's types need no `@types/node` in browser apps.
   */
  workerOptions?: Readonly<Record<string, unknown>>;
}

const WORKER_THREADS = "node:worker_threads"; // computed: bundlers leave Node built-ins alone

type Pending = { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void };

class WorkerReplica {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly worker: WorkerThreads.Worker) {
    worker.on("message", (reply: WorkerReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiting?.reject(new Error(`data-parallel worker: ${reply.error}`));
      else waiting?.resolve(reply);
    });
    worker.on("error", (error) => {
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    });
  }

  request(message: WorkerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Rows [start, start + size) of a typed array holding rows of `rowLength`. */
const rowSlice = <T extends Float32Array | Int32Array>(data: T, rowLength: number, start: number, size: number): T =>
  data.slice(start * rowLength, (start + size) * rowLength) as T;

/** The replicas of one model: `gradients(batch)` computes the contrastive gradients across all of them. */
export class DataParallelClip {
  private constructor(
    private readonly model: ClipModel,
    private readonly replicas: WorkerReplica[],
  ) {}

  /** Starts `options.workers` worker threads, each with a replica of `model` (same weights) on the active backend. */
  static async start(model: ClipModel, options: DataParallelOptions): Promise<DataParallelClip> {
    const parameters = trainableParameters(model, "DataParallelClip");
    if (!(Number.isInteger(options.workers) && options.workers >= 1)) throw new RangeError(`DataParallelClip: workers must be an integer ≥ 1, got ${options.workers}`);
    const { Worker } = (await import(/* @vite-ignore */ WORKER_THREADS)) as typeof WorkerThreads;
    if (parameters.size === 0) throw new Error("DataParallelClip: the model has no parameters");
    const checkpoint = await serializeTrainableClip(model);
    const url = options.workerUrl ?? new URL("./data-parallel-worker.js", import.meta.url);
    const replicas: WorkerReplica[] = [];
    try {
      for (let i = 0; i < options.workers; i++) {
        const replica = new WorkerReplica(new Worker(url, options.workerOptions));
        replicas.push(replica);
        await replica.request({ type: "init", backend: tf.getBackend(), checkpoint: checkpoint.slice(), imports: [...(options.workerImports ?? ["@tensorflow/tfjs"])] });
      }
    } catch (error) {
      await Promise.all(replicas.map((r) => r.terminate()));
      throw error;
    }
    return new DataParallelClip(model, replicas);
  }

  /** Shard sizes: as even as possible, the main thread's first. */
  private shardSizes(n: number): number[] {
    const parts = this.replicas.length + 1;
    return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
  }

  /**
   * The contrastive gradients of `batch` across the replicas (see the module comment); `chunkSize` bounds the pairs
   * per forward/backward pass within each shard. Returns what `contrastiveGradients` returns.
   */
  async gradients(batch: ContrastiveBatch, chunkSize?: number): Promise<ContrastiveGradients> {
    checkBatch(this.model, batch, "DataParallelClip.gradients");
    const parameters = this.model.parameters!;
    const n = batch.images.shape[0];
    if (n < this.replicas.length + 1) throw new RangeError(`DataParallelClip.gradients: a batch of ${n} pairs cannot be split over ${this.replicas.length + 1} replicas`);
    const sizes = this.shardSizes(n);
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const [R, T] = [batch.images.shape[1], batch.ids.shape[1]];
    const [images, ids] = await Promise.all([batch.images.data(), batch.ids.data()]) as [Float32Array, Int32Array];
    const chunk = (size: number) => Math.max(1, Math.min(chunkSize ?? size, size));
    // 1. Embed: workers first (they run while the main thread embeds its own shard).
    const embedded = this.replicas.map((replica, w) => {
      const size = sizes[w + 1]!;
      const shardImages = rowSlice(images, R * R * 3, starts[w + 1]!, size);
      const shardIds = rowSlice(ids, T, starts[w + 1]!, size);
      return replica.request(
        { type: "embed", images: shardImages, imagesShape: [size, R, R, 3], ids: shardIds, idsShape: [size, T], chunkSize: chunk(size) },
        [shardImages.buffer as ArrayBuffer, shardIds.buffer as ArrayBuffer],
      );
    });
    const mainShard: ContrastiveBatch = tf.tidy(() => ({
      images: tf.slice(batch.images, [0, 0, 0, 0], [sizes[0]!, R, R, 3]),
      ids: tf.slice(batch.ids, [0, 0], [sizes[0]!, T]),
    }));
    try {
      const own = embedWithoutGradients(this.model, mainShard, chunk(sizes[0]!));
      const replies = await Promise.all(embedded);
      const E = own.imageFeatures.shape[1];
      const [imageFeatures, textFeatures] = tf.tidy(() => [
        tf.concat([own.imageFeatures, ...replies.map((r, w) => tf.tensor2d(r.imageFeatures!, [sizes[w + 1]!, E]))], 0),
        tf.concat([own.textFeatures, ...replies.map((r, w) => tf.tensor2d(r.textFeatures!, [sizes[w + 1]!, E]))], 0),
      ]) as [tf.Tensor2D, tf.Tensor2D];
      tf.dispose([own.imageFeatures, own.textFeatures]);
      // 2. Loss and embedding gradients on the whole batch.
      const { loss, accuracy, dImages, dTexts, dScale } = embeddingGradients(imageFeatures, textFeatures, parameters.get("logit_scale")!);
      tf.dispose([imageFeatures, textFeatures]);
      // 3. Backward on every shard.
      const [dI, dT] = (await Promise.all([dImages.data(), dTexts.data()])) as [Float32Array, Float32Array];
      const backward = this.replicas.map((replica, w) => {
        const a = rowSlice(dI, E, starts[w + 1]!, sizes[w + 1]!);
        const b = rowSlice(dT, E, starts[w + 1]!, sizes[w + 1]!);
        return replica.request({ type: "backward", dImages: a, dTexts: b }, [a.buffer as ArrayBuffer, b.buffer as ArrayBuffer]);
      });
      const ownD = tf.tidy(() => [tf.slice(dImages, [0, 0], [sizes[0]!, E]), tf.slice(dTexts, [0, 0], [sizes[0]!, E])]) as [tf.Tensor2D, tf.Tensor2D];
      tf.dispose([dImages, dTexts]);
      const grads = backpropagateEmbeddingGradients(this.model, mainShard, ownD[0], ownD[1], chunk(sizes[0]!));
      tf.dispose(ownD);
      // 4. Sum the shards' gradients.
      for (const reply of await Promise.all(backward)) {
        for (const [key, values] of Object.entries(reply.grads!)) {
          const sum = grads.get(key);
          const shape = parameters.get(key)!.shape;
          const next = tf.tidy(() => (sum === undefined ? tf.tensor(values, shape) : tf.add(sum, tf.tensor(values, shape))));
          sum?.dispose();
          grads.set(key, next);
        }
      }
      grads.set("logit_scale", dScale);
      return { loss, accuracy, grads };
    } finally {
      tf.dispose([mainShard.images, mainShard.ids]);
    }
  }

  /** Sends the main thread's current weights to every worker (after each optimizer step). */
  async syncWeights(): Promise<void> {
    const values: Record<string, Float32Array> = {};
    for (const [key, variable] of this.model.parameters!) values[key] = (await variable.data()) as Float32Array;
    await Promise.all(this.replicas.map((replica) => replica.request({ type: "weights", values })));
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map(async (replica) => {
      await replica.request({ type: "close" }).catch(() => undefined);
      await replica.terminate();
    }));
  }
}
