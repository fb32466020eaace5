/**
 * The worker side of data-parallel CLIP training (data-parallel.ts): a model replica on its own tfjs backend in a
 * worker thread, computing gradient-cache steps 1 and 3 for its shard of each batch. Messages, in order:
 *
 *   init     { backend, checkpoint, imports }    → import `imports`, build the replica from checkpoint bytes (OpenAI layout)
 *   embed    { images, ids, shapes, chunkSize }  → { imageFeatures, textFeatures } of the shard (no gradients)
 *   backward { dImages, dTexts }                 → { grads } of the shard, by checkpoint key (logit_scale excluded)
 *   weights  { values }                          → assign the main thread's updated weights (model layout)
 *
 * Every reply carries the request's `id`; a failure replies `{ id, error }`.
 */
import type * as WorkerThreads from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { clipFromSafetensors, type ClipModel } from "../clip-model.js";
import { parseSafetensors } from "../safetensors.js";
import { backpropagateEmbeddingGradients, embedWithoutGradients, type ContrastiveBatch } from "./grad-cache.js";

export type WorkerRequest =
  | { id: number; type: "init"; backend: string; checkpoint: Uint8Array; imports: string[] }
  | { id: number; type: "embed"; images: Float32Array; imagesShape: number[]; ids: Int32Array; idsShape: number[]; chunkSize: number }
  | { id: number; type: "backward"; dImages: Float32Array; dTexts: Float32Array }
  | { id: number; type: "weights"; values: Record<string, Float32Array> }
  | { id: number; type: "close" };

export type WorkerReply = { id: number; error?: string; imageFeatures?: Float32Array; textFeatures?: Float32Array; grads?: Record<string, Float32Array> };

const WORKER_THREADS = "node:worker_threads";
const { parentPort } = (await import(/* @vite-ignore */ WORKER_THREADS)) as typeof WorkerThreads;

let model: ClipModel | undefined;
let shard: { batch: ContrastiveBatch; chunkSize: number } | undefined;

function disposeShard(): void {
  if (shard !== undefined) tf.dispose([shard.batch.images, shard.batch.ids]);
  shard = undefined;
}

async function handle(request: WorkerRequest): Promise<Omit<WorkerReply, "id">> {
  switch (request.type) {
    case "init": {
      // Each worker has its own engine: the op gradients (tfjs-core's Node bundle registers none; @tensorflow/tfjs's
      // does), the backend packages and our kernels are loaded here.
      for (const specifier of request.imports) await import(/* @vite-ignore */ specifier);
      await import("@tensorflow/tfjs-backend-cpu");
      if (request.backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
      await import("@proj/tensor-kernels/register");
      if (!(await tf.setBackend(request.backend))) throw new Error(`could not initialise the ${request.backend} backend`);
      model = clipFromSafetensors(parseSafetensors(request.checkpoint), { trainable: true });
      return {};
    }
    case "embed": {
      disposeShard();
      const batch = {
        images: tf.tensor4d(request.images, request.imagesShape as [number, number, number, number]),
        ids: tf.tensor2d(request.ids, request.idsShape as [number, number], "int32"),
      };
      shard = { batch, chunkSize: request.chunkSize };
      const { imageFeatures, textFeatures } = embedWithoutGradients(model!, batch, request.chunkSize);
      const [i, t] = await Promise.all([imageFeatures.data(), textFeatures.data()]);
      tf.dispose([imageFeatures, textFeatures]);
      return { imageFeatures: (i as Float32Array).slice(), textFeatures: (t as Float32Array).slice() };
    }
    case "backward": {
      if (shard === undefined) throw new Error("backward before embed");
      const n = shard.batch.images.shape[0];
      const dImages = tf.tensor2d(request.dImages, [n, request.dImages.length / n]);
      const dTexts = tf.tensor2d(request.dTexts, [n, request.dTexts.length / n]);
      try {
        const grads = backpropagateEmbeddingGradients(model!, shard.batch, dImages, dTexts, shard.chunkSize);
        const out: Record<string, Float32Array> = {};
        for (const [key, grad] of grads) {
          out[key] = ((await grad.data()) as Float32Array).slice(); // a copy: the cpu backend may share its buffer
          grad.dispose();
        }
        return { grads: out };
      } finally {
        tf.dispose([dImages, dTexts]);
        disposeShard();
      }
    }
    case "weights": {
      for (const [key, values] of Object.entries(request.values)) {
        const variable = model!.parameters!.get(key)!;
        tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, "float32")));
      }
      return {};
    }
    case "close": {
      disposeShard();
      model?.dispose();
      model = undefined;
      return {};
    }
  }
}

parentPort!.on("message", (request: WorkerRequest) => {
  handle(request).then(
    (reply) => {
      const transfer = [reply.imageFeatures?.buffer, reply.textFeatures?.buffer, ...Object.values(reply.grads ?? {}).map((g) => g.buffer)];
      parentPort!.postMessage({ id: request.id, ...reply }, transfer.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer));
    },
    (error: unknown) => parentPort!.postMessage({ id: request.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
