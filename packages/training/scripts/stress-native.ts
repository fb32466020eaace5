/**
 * npm run stress:native -w @proj/training [-- --minutes 10 --threads 2 --batch-size 64 --seed 0 --backend native|wasm]
 *
 * A soak test of the native backend under the load that crashed it (issue 6): trains a copy of the embedded CLIP in
 * memory on the real training stream (sharp decoding the Fluent WebPs on libuv threads beside the kernels, as in
 * `train:clip`) for a fixed time, and writes nothing — no checkpoint, no model file, no log. It prints the steps
 * done and the last loss, and fails (exit 1) on a non-finite loss; a crash ends the process as it would a training
 * run. Meant to be run under the sanitizer builds of the addon (see packages/tensor-kernels/native/README.md,
 * `npm run sanitize -w @proj/tensor-kernels`) as well as the normal one. The CLIP step covers the GEMMs (with
 * packed weights), fused attention, layer norm, gathers and the AdamW update at the shapes `train:clip` uses.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { clipFromSafetensors, parseSafetensors, trainClip } from "@proj/clip";
import { STYLE_AUGMENTATION, createEmojiDataset } from "@proj/training-data";
import { cosineSchedule } from "@proj/tensor-kernels";
import { clipTrainingBatches } from "../src/clip-embedder.js";
import { MODEL_FILES, chooseBackend } from "../src/run.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    threads: { type: "string", default: "2" },
    "batch-size": { type: "string", default: "64" },
    seed: { type: "string", default: "0" },
    backend: { type: "string", default: "native" },
  },
});
const minutes = Number(values.minutes), threads = Number(values.threads), batchSize = Number(values["batch-size"]), seed = Number(values.seed);
if (!(minutes > 0)) throw new RangeError(`--minutes must be > 0 (got ${values.minutes})`);
if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`--threads must be an integer ≥ 1 (got ${values.threads})`);
if (!(Number.isInteger(batchSize) && batchSize >= 2)) throw new RangeError(`--batch-size must be an integer ≥ 2 (got ${values["batch-size"]})`);

const backend = await chooseBackend(values.backend);
if (backend === "native") {
  const { setNativeThreads, nativeThreads } = await import("@proj/tensor-kernels/native");
  setNativeThreads(threads);
  console.log(`native backend, ${nativeThreads()} threads${process.env.PROJ_NATIVE_ADDON ? `, addon ${process.env.PROJ_NATIVE_ADDON}` : ""}`);
}
const controller = new AbortController();
const deadline = setTimeout(() => controller.abort(), minutes * 60_000);
const started = Date.now();
let steps = 0, lastLoss = Number.NaN;

const file = readFileSync(MODEL_FILES.clip);
const model = clipFromSafetensors(parseSafetensors(new Uint8Array(file.buffer, file.byteOffset, file.byteLength)), { trainable: true });
const dataset = await createEmojiDataset({ split: "train" });
const batches = clipTrainingBatches(dataset, { batchSize, seed, augment: STYLE_AUGMENTATION, size: model.config.imageResolution });
const tokenizer = model.tokenizer;
if (tokenizer === undefined) throw new Error(`${MODEL_FILES.clip}: no tokenizer in the model file`);
try {
  await trainClip({
    model,
    batches,
    steps: 1_000_000,
    learningRate: cosineSchedule({ warmupSteps: 10, totalSteps: 1_000_000, peak: 1e-5, floor: 1e-6 }),
    tokenize: (captions) => tokenizer.tokenize(captions, { contextLength: model.config.contextLength, truncate: true }),
    seed,
    signal: controller.signal,
    onProgress: ({ step, loss }) => {
      steps = step;
      lastLoss = loss;
      if (!Number.isFinite(loss)) throw new Error(`step ${step}: loss ${loss}`);
      if (step % 50 === 0) console.log(`step ${step}: loss ${loss.toFixed(4)}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    },
  });
} catch (error) {
  if (!controller.signal.aborted) throw error; // the time is up: the trainer stops by throwing the abort
}
model.dispose();
clearTimeout(deadline);
console.log(`stress (clip, ${backend}, ${threads} threads): ${steps} steps in ${((Date.now() - started) / 1000).toFixed(0)} s without a crash; last loss ${lastLoss.toFixed(4)}`);
