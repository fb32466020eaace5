/**
 * npm run train:prior [-- --steps 6000 --batch-size 64 --lr 3e-4 --clip models/clip.safetensors --seed 0 --fresh]
 *
 * Trains the embedded default prior (SMALL_PRIOR with the CLIP's widths) to map the trained CLIP's caption
 * embeddings (and token features) to the embeddings of the matching emoji images, both computed on the fly from
 * augmented batches with sampled captions. Needs models/clip.safetensors (train:clip). Resumable (runs/prior/);
 * writes models/prior.safetensors (F16) when done.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeTextTokens, parseSafetensors } from "@proj/clip";
import { createEmojiDataset } from "@proj/training-data";
import { DiffusionPrior, SMALL_PRIOR, trainPrior, type PriorBatch } from "@proj/unclip";
import { embedImages, loadTrainedClip } from "../src/clip-embedder.js";
import { MODELS_DIR, REPO_ROOT, abortOnSignals, appendLog, chooseBackend, progressBar, resumeBytes, runPaths, writeAtomically, writeLossPlot } from "../src/run.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "6000" },
    "batch-size": { type: "string", default: "64" },
    lr: { type: "string", default: "3e-4" },
    clip: { type: "string", default: join(REPO_ROOT, "models", "clip.safetensors") },
    seed: { type: "string", default: "0" },
    every: { type: "string", default: "50" },
    backend: { type: "string" },
    fresh: { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
const batchSize = Number(values["batch-size"]);
const seed = Number(values.seed);

const backend = await chooseBackend(values.backend);
const clip = await loadTrainedClip(values.clip);
const config = { ...SMALL_PRIOR, clipEmbedDim: clip.config.embedDim, textTokenDim: clip.config.transformerWidth, maxTextTokens: clip.config.contextLength };
const prior = new DiffusionPrior(config, { seed });
const paths = runPaths("prior");
const resume = resumeBytes(paths, values.fresh);
const start = resume === undefined ? 0 : Number(parseSafetensors(resume).metadata.step ?? 0);
const dataset = await createEmojiDataset({ split: "train" });
console.log(`prior: ${prior.parameterCount().toLocaleString()} parameters on ${backend}; CLIP ${values.clip}; ${resume ? `resuming at ${start}` : "starting"} (target ${steps}, batch ${batchSize})`);

async function* batches(): AsyncGenerator<PriorBatch> {
  for await (const batch of dataset.batches({ batchSize, seed, epochs: 1_000_000, dropLast: true, skipBatches: start, augment: true, size: clip.config.imageResolution })) {
    const ids = clip.tokenizer!.tokenize(batch.captions, { contextLength: clip.config.contextLength, truncate: true });
    const text = await encodeTextTokens(clip, ids);
    yield { textEmbeddings: text.features, textTokens: text.tokens, textMask: text.mask, imageEmbeddings: embedImages(clip, batch.images, batch.shape[0]) };
  }
}

const controller = abortOnSignals();
let bar: ReturnType<typeof progressBar> | undefined;
const result = await trainPrior(prior, batches(), {
  steps,
  learningRate: Number(values.lr),
  warmupSteps: Math.min(200, Math.floor(steps / 10)),
  emaDecay: 0.999,
  seed,
  resume,
  signal: controller.signal,
  onProgress: ({ step, loss, learningRate, gradNorm, stepsPerSecond }) => {
    appendLog(paths, { step, loss, learningRate, gradNorm });
    bar ??= progressBar("prior", steps, step - 1);
    bar.update(step, { loss: loss.toFixed(4), rate: stepsPerSecond.toFixed(2) });
  },
  checkpoint: {
    every: Number(values.every),
    save: async (bytes) => {
      writeAtomically(paths.checkpoint, bytes);
      await writeLossPlot(paths, "prior");
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
writeAtomically(join(MODELS_DIR, "prior.safetensors"), prior.toSafetensors({ dtype: "F16", metadata: { trainedSteps: String(result.step) } }));
console.log(`done: ${result.step} steps; EMA weights in models/prior.safetensors; loss plot ${paths.plot}`);
