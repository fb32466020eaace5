/**
 * npm run train:decoder [-- --steps 6000 --batch-size 32 --lr 3e-4 --clip models/clip.safetensors --seed 0 --fresh]
 *
 * Trains the embedded default decoder (SMALL_DECODER, 32×32, v-prediction) to invert the trained CLIP: each
 * augmented emoji is embedded by the CLIP on the fly and the U-Net learns to denoise the image given that
 * embedding (dropped 10% of the time for classifier-free guidance). Needs models/clip.safetensors (train:clip).
 * Resumable like every train:* script (runs/decoder/); writes models/decoder.safetensors (F16) when done.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { parseSafetensors } from "@proj/clip";
import { createEmojiDataset } from "@proj/training-data";
import { SMALL_DECODER, UNet, trainDecoder, type DecoderBatch } from "@proj/unclip";
import { embedImages, loadTrainedClip } from "../src/clip-embedder.js";
import { MODELS_DIR, REPO_ROOT, abortOnSignals, appendLog, chooseBackend, progressBar, resumeBytes, runPaths, writeAtomically, writeLossPlot } from "../src/run.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "6000" },
    "batch-size": { type: "string", default: "32" },
    lr: { type: "string", default: "3e-4" },
    clip: { type: "string", default: join(REPO_ROOT, "models", "clip.safetensors") },
    seed: { type: "string", default: "0" },
    every: { type: "string", default: "25" },
    backend: { type: "string" },
    fresh: { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
const batchSize = Number(values["batch-size"]);
const seed = Number(values.seed);

const backend = await chooseBackend(values.backend);
const clip = await loadTrainedClip(values.clip);
const config = { ...SMALL_DECODER, clipEmbedDim: clip.config.embedDim };
if (clip.config.imageResolution !== config.imageSize) throw new Error(`the CLIP sees ${clip.config.imageResolution}px images, the decoder makes ${config.imageSize}px`);
const decoder = new UNet(config, { seed });
const paths = runPaths("decoder");
const resume = resumeBytes(paths, values.fresh);
const start = resume === undefined ? 0 : Number(parseSafetensors(resume).metadata.step ?? 0);
const dataset = await createEmojiDataset({ split: "train" });
console.log(`decoder: ${decoder.parameterCount().toLocaleString()} parameters on ${backend}; CLIP ${values.clip}; ${resume ? `resuming at ${start}` : "starting"} (target ${steps}, batch ${batchSize})`);

async function* batches(): AsyncGenerator<DecoderBatch> {
  for await (const batch of dataset.batches({ batchSize, seed, epochs: 1_000_000, dropLast: true, skipBatches: start, augment: true, size: config.imageSize })) {
    yield { images: tf.tensor4d(batch.images, [...batch.shape] as [number, number, number, number]), imageEmbeddings: embedImages(clip, batch.images, batch.shape[0]) };
  }
}

const controller = abortOnSignals();
let bar: ReturnType<typeof progressBar> | undefined;
const result = await trainDecoder(decoder, batches(), {
  steps,
  learningRate: Number(values.lr),
  warmupSteps: Math.min(200, Math.floor(steps / 10)),
  emaDecay: 0.999,
  seed,
  resume,
  signal: controller.signal,
  onProgress: ({ step, loss, learningRate, gradNorm, stepsPerSecond }) => {
    appendLog(paths, { step, loss, learningRate, gradNorm });
    bar ??= progressBar("decoder", steps, step - 1);
    bar.update(step, { loss: loss.toFixed(4), rate: stepsPerSecond.toFixed(2) });
  },
  checkpoint: {
    every: Number(values.every),
    save: async (bytes) => {
      writeAtomically(paths.checkpoint, bytes);
      await writeLossPlot(paths, "decoder");
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
writeAtomically(join(MODELS_DIR, "decoder.safetensors"), decoder.toSafetensors({ dtype: "F16", metadata: { trainedSteps: String(result.step) } }));
console.log(`done: ${result.step} steps; EMA weights in models/decoder.safetensors; loss plot ${paths.plot}`);
