/**
 * npm run train:prior [-- --steps 6000 --batch-size 64 --lr 3e-4 --clip packages/clip/models/clip.safetensors --seed 0 --fresh]
 *
 * Trains the embedded default prior (SMALL_PRIOR with the CLIP's widths) to map the trained CLIP's caption
 * embeddings (and token features) to the embeddings of the matching emoji images, both computed on the fly from
 * augmented batches with sampled captions. Needs packages/clip/models/clip.safetensors (train:clip). Resumable (runs/prior/);
 * writes packages/unclip/models/prior.safetensors (F16) when done.
 */
import { encodeTextTokens, parseSafetensors } from "@proj/clip";
import { createEmojiDataset } from "@proj/training-data";
import { DiffusionPrior, SMALL_PRIOR, trainPrior, type PriorBatch } from "@proj/unclip";
import { embedImages, loadTrainedClip } from "../src/clip-embedder.js";
import { chooseBackend, fromStart, MODEL_FILES, parseTrainingArgs, progressReporter, resumeBytes, runPaths, shipModel, unclipTrainOptions, untilDoneOrStopped } from "../src/run.js";

const args = parseTrainingArgs({ steps: 6000, batchSize: 64, learningRate: 3e-4, every: 50 }, { clip: { type: "string", default: MODEL_FILES.clip } });
const { steps, batchSize, seed } = args;
const clipPath = fromStart(String(args.values.clip)); // a relative --clip: from where npm was started

const backend = await chooseBackend(args.backend);
const clip = await loadTrainedClip(clipPath);
const config = { ...SMALL_PRIOR, clipEmbedDim: clip.config.embedDim, textTokenDim: clip.config.transformerWidth, maxTextTokens: clip.config.contextLength };
const prior = new DiffusionPrior(config, { seed });
const paths = runPaths("prior");
const resume = resumeBytes(paths, args.fresh);
const start = resume === undefined ? 0 : Number(parseSafetensors(resume).metadata.step ?? 0);
const dataset = await createEmojiDataset({ split: "train" });
console.log(`prior: ${prior.parameterCount().toLocaleString()} parameters on ${backend}; CLIP ${clipPath}; ${resume ? `resuming at ${start}` : "starting"} (target ${steps}, batch ${batchSize})`);

async function* batches(): AsyncGenerator<PriorBatch> {
  for await (const batch of dataset.batches({ batchSize, seed, epochs: 1_000_000, dropLast: true, skipBatches: start, augment: true, size: clip.config.imageResolution })) {
    const ids = clip.tokenizer!.tokenize(batch.captions, { contextLength: clip.config.contextLength, truncate: true });
    const text = await encodeTextTokens(clip, ids);
    yield { textEmbeddings: text.features, textTokens: text.tokens, textMask: text.mask, imageEmbeddings: embedImages(clip, batch.images, batch.shape[0]) };
  }
}

const reporter = progressReporter(paths, "prior", steps);
const result = await untilDoneOrStopped(
  paths,
  reporter,
  trainPrior(prior, batches(), unclipTrainOptions("prior", paths, reporter, args, resume)),
);
shipModel("prior", prior, result.step);
console.log(`done: ${result.step} steps; EMA weights in packages/unclip/models/prior.safetensors; loss plot ${paths.plot}`);
