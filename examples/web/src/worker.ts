/**
 * The worker that owns tfjs and the models, so the page stays responsive while a model runs:
 *   1. pick the backend: WebGPU with our WGSL kernels when there is an adapter, else wasm (binaries served by Vite);
 *   2. fetch the models with progress and build the pipeline;
 *   3. run one job at a time, posting per-step progress and every finished image; `cancel` aborts between two steps.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { setupBackend } from "@proj/tensor-kernels";
import { loadClip, zeroShotClassify, type ClipModel, type ImageInput } from "@proj/clip";
import { DiffusionPrior, UNet, animate, createPipeline, interpolate, textToImage, variations, type Pipeline, type SampleProgress } from "@proj/unclip";
import wasmUrl from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url";
import wasmSimdUrl from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url";
import wasmThreadedSimdUrl from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url";
import type { FromWorker, Job, ModelName, Picture, ToWorker, WorkerImage } from "./protocol.js";

const UPSAMPLER_STEPS = 4;
const PRIOR_STEPS = 10;

// The wasm binaries, as Vite emits them (hashed names under assets/).
setWasmPaths({
  "tfjs-backend-wasm.wasm": wasmUrl,
  "tfjs-backend-wasm-simd.wasm": wasmSimdUrl,
  "tfjs-backend-wasm-threaded-simd.wasm": wasmThreadedSimdUrl,
});

const post = (message: FromWorker, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(message, transfer);

let clip: ClipModel | undefined;
let pipeline: Pipeline | undefined;
const running = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

/** Fetches one model with progress; undefined when the server has no such file (404). */
async function fetchModel(baseUrl: string, model: ModelName): Promise<Uint8Array | undefined> {
  const response = await fetch(`${baseUrl}/${model}.safetensors`);
  if (response.status === 404) return undefined;
  if (!response.ok || response.body === null) throw new Error(`${model}: HTTP ${response.status} ${response.statusText}`);
  const header = response.headers.get("Content-Length");
  const total = header === null ? undefined : Number(header);
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    post({ type: "fetch", model, loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  // Vite's dev server answers unknown paths with index.html: a safetensors file starts with an 8-byte header length.
  if (bytes.byteLength < 8 || bytes[0] === 0x3c /* "<" */) return undefined;
  return bytes;
}

async function load(baseUrl: string, preferWasm: boolean): Promise<void> {
  const started = performance.now();
  const skipped: string[] = [];
  const backend = await setupBackend(preferWasm ? ["wasm", "cpu"] : ["webgpu", "wasm", "cpu"], { onSkip: (name, reason) => skipped.push(`${name}: ${reason}`) });
  post({ type: "backend", backend, skipped });

  const models: ModelName[] = ["clip", "decoder", "upsampler", "prior"];
  const bytes = await Promise.all(models.map((model) => fetchModel(baseUrl, model)));
  const [clipBytes, decoderBytes, upsamplerBytes, priorBytes] = bytes;
  const missing = models.filter((_, i) => bytes[i] === undefined);
  if (clipBytes === undefined) throw new Error(`no CLIP model at ${baseUrl}/clip.safetensors (train it with \`npm run train:clip\`)`);
  clip = await loadClip(clipBytes);
  if (decoderBytes !== undefined) {
    pipeline = createPipeline({
      clip,
      decoder: UNet.fromSafetensors(decoderBytes),
      upsampler: upsamplerBytes === undefined ? undefined : UNet.fromSafetensors(upsamplerBytes),
      prior: priorBytes === undefined ? undefined : DiffusionPrior.fromSafetensors(priorBytes),
    });
  }
  post({ type: "loaded", models: models.filter((_, i) => bytes[i] !== undefined), missing, seconds: (performance.now() - started) / 1000 });
}

function toInput(image: WorkerImage): ImageInput {
  return "bytes" in image ? image.bytes : image.bitmap;
}

/** [1, H, W, 3] in [0, 1] → RGBA bytes. */
async function toPicture(image: tf.Tensor4D): Promise<Picture> {
  const [, height, width] = image.shape;
  const rgba = tf.tidy(() => {
    const rgb = tf.cast(tf.round(tf.mul(tf.clipByValue(tf.squeeze(image, [0]), 0, 1), 255)), "int32");
    return tf.concat([rgb, tf.fill([height, width, 1], 255, "int32")], 2);
  });
  const data = await rgba.data();
  rgba.dispose();
  return { width, height, rgba: Uint8ClampedArray.from(data) };
}

async function run(id: number, job: Job, signal: AbortSignal): Promise<void> {
  if (clip === undefined) throw new Error("the models are not loaded");
  if (job.tool === "classify") {
    const scores = await zeroShotClassify(clip, toInput(job.image), job.labels);
    post({ type: "scores", id, scores });
    return;
  }
  if (pipeline === undefined) throw new Error("no decoder model: only classification is available");
  const onImage = async (index: number, image: tf.Tensor4D): Promise<void> => {
    const picture = await toPicture(image);
    post({ type: "image", id, index, picture }, [picture.rgba.buffer]);
  };
  const onProgress = async ({ stage, step, of }: SampleProgress): Promise<void> => {
    post({ type: "progress", id, stage, step, of });
    // Let the worker read its messages (a cancel) between two steps: tfjs work alone never yields to the event loop.
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  const common = { numInferenceSteps: job.settings.steps, seed: job.settings.seed, upsamplerSteps: Math.min(UPSAMPLER_STEPS, job.settings.steps), signal, onProgress, onImage };
  let result: tf.Tensor4D;
  switch (job.tool) {
    case "variations":
      result = await variations(pipeline, toInput(job.image), { ...common, count: job.count });
      break;
    case "blend":
      // interpolate's weight is the share of the second image.
      result = await interpolate(pipeline, toInput(job.imageA), toInput(job.imageB), { ...common, weights: [job.weight] });
      break;
    case "animate":
      // Decode one frame per batch so that each is shown as soon as it is done.
      result = await animate(pipeline, toInput(job.image), { ...common, frames: job.frames, batchSize: 1 });
      break;
    case "textToImage":
      if (pipeline.prior === undefined) throw new Error("no prior model: text-to-image needs models/prior.safetensors (`npm run train:prior`)");
      result = await textToImage(pipeline, job.prompt, { ...common, priorSteps: Math.min(PRIOR_STEPS, job.settings.steps) });
      break;
  }
  result.dispose();
}

self.addEventListener("message", (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === "cancel") {
    running.get(message.id)?.abort(new DOMException("cancelled", "AbortError"));
    return;
  }
  if (message.type === "load") {
    queue = queue.then(() => load(message.baseUrl, message.preferWasm)).catch((error: unknown) => post({ type: "error", message: errorMessage(error) }));
    return;
  }
  const controller = new AbortController();
  running.set(message.id, controller);
  // One job at a time: the models and the backend are shared.
  queue = queue.then(async () => {
    const started = performance.now();
    try {
      controller.signal.throwIfAborted();
      await run(message.id, message.job, controller.signal);
      post({ type: "done", id: message.id, seconds: (performance.now() - started) / 1000 });
    } catch (error) {
      if (controller.signal.aborted) post({ type: "cancelled", id: message.id });
      else post({ type: "error", id: message.id, message: errorMessage(error) });
    } finally {
      running.delete(message.id);
    }
  });
});

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
