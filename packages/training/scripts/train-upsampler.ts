/**
 * npm run train:upsampler [-- --steps 4000 --batch-size 16 --lr 5e-4 --seed 0 --backend native|wasm --fresh]
 *
 * Trains the embedded default 2× upsampler (SMALL_UPSAMPLER, 32 → 64, v-prediction) on the training split of the
 * emoji data (Google + Twitter styles, augmented), on random 32×32 crops (--crop; unCLIP trains its upsamplers on crops,
 * 4× cheaper per step here). Resumable: stop at any time (Ctrl-C writes a checkpoint) and run
 * again to continue from runs/upsampler/checkpoint.safetensors; --fresh starts over. Logs every step to
 * runs/upsampler/log.jsonl, plots runs/upsampler/loss.png at each checkpoint, and writes the EMA weights to
 * models/upsampler.safetensors (F16) when the run completes.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { parseSafetensors } from "@proj/clip";
import { createEmojiDataset } from "@proj/training-data";
import { SMALL_UPSAMPLER, UNet, trainUpsampler, type UpsamplerBatch } from "@proj/unclip";
import { MODELS_DIR, abortOnSignals, appendLog, chooseBackend, progressBar, resumeBytes, runPaths, writeAtomically, writeLossPlot } from "../src/run.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "4000" },
    "batch-size": { type: "string", default: "16" },
    lr: { type: "string", default: "5e-4" },
    seed: { type: "string", default: "0" },
    every: { type: "string", default: "50" },
    crop: { type: "string", default: "32" },
    backend: { type: "string" },
    fresh: { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
const batchSize = Number(values["batch-size"]);
const seed = Number(values.seed);

const backend = await chooseBackend(values.backend);
const paths = runPaths("upsampler");
const config = { ...SMALL_UPSAMPLER, predictionType: "v_prediction" as const };
const upsampler = new UNet(config, { seed });
const resume = resumeBytes(paths, values.fresh);
const dataset = await createEmojiDataset({ split: "train" });
console.log(`upsampler: ${upsampler.parameterCount().toLocaleString()} parameters on ${backend}; ${dataset.examples.length} training images; ${resume ? "resuming" : "starting"} (target ${steps} steps, batch ${batchSize})`);

async function* batches(skip: number): AsyncGenerator<UpsamplerBatch> {
  for await (const batch of dataset.batches({ batchSize, seed, epochs: 1_000_000, dropLast: true, skipBatches: skip, augment: true, size: config.imageSize })) {
    yield { images: tf.tensor4d(batch.images, [...batch.shape] as [number, number, number, number]) };
  }
}

const controller = abortOnSignals();
let bar: ReturnType<typeof progressBar> | undefined;
const result = await trainUpsampler(upsampler, batches(resumeStep(resume)), {
  steps,
  learningRate: Number(values.lr),
  warmupSteps: Math.min(100, Math.floor(steps / 10)),
  emaDecay: 0.999,
  cropSize: Number(values.crop),
  seed,
  resume,
  signal: controller.signal,
  onProgress: ({ step, loss, learningRate, gradNorm, stepsPerSecond }) => {
    appendLog(paths, { step, loss, learningRate, gradNorm });
    bar ??= progressBar("upsampler", steps, step - 1);
    bar.update(step, { loss: loss.toFixed(4), rate: stepsPerSecond.toFixed(2) });
  },
  checkpoint: {
    every: Number(values.every),
    save: async (bytes) => {
      writeAtomically(paths.checkpoint, bytes);
      await writeLossPlot(paths, "upsampler");
    },
  },
}).catch((error: unknown) => {
  bar?.stop();
  if ((error as Error).name === "AbortError") {
    console.log(`stopped; checkpoint at ${paths.checkpoint} (run again to resume)`);
    process.exit(0);
  }
  throw error;
});
bar?.stop();
writeAtomically(join(MODELS_DIR, "upsampler.safetensors"), upsampler.toSafetensors({ dtype: "F16", metadata: { trainedSteps: String(result.step) } }));
console.log(`done: ${result.step} steps; EMA weights in models/upsampler.safetensors; loss plot ${paths.plot}`);

/** The step a checkpoint was written at (its batches are skipped when resuming). */
function resumeStep(bytes: Uint8Array | undefined): number {
  return bytes === undefined ? 0 : Number(parseSafetensors(bytes).metadata.step ?? 0);
}
