/**
 * npm run train:decoder [-- --steps 6000 --batch-size 32 --lr 3e-4 --clip packages/clip/models/clip.safetensors --seed 0 --fresh
 *                         --init packages/unclip/models/decoder.safetensors --preset medium]
 *
 * Trains the embedded default decoder (MEDIUM_DECODER by default, 32×32, v-prediction) to invert the trained CLIP: each
 * augmented emoji is embedded by the CLIP on the fly and the U-Net learns to denoise the image given that
 * embedding (dropped 10% of the time for classifier-free guidance). Needs packages/clip/models/clip.safetensors (train:clip).
 * `--init <file>` starts a new run from a model file's weights (e.g. the shipped decoder, to train it further).
 * `--preset small|medium` picks SMALL_DECODER or MEDIUM_DECODER (default medium, the embedded decoder's since v5); an
 * `--init` model of half the preset's width is widened first (`widenUNet`: same output, twice the channels).
 * Resumable like every train:* script (runs/decoder/); writes packages/unclip/models/decoder.safetensors (F16) when done.
 */
import * as tf from "@tensorflow/tfjs";
import { parseSafetensors } from "@proj/clip";
import { createEmojiDataset } from "@proj/training-data";
import { MEDIUM_DECODER, SMALL_DECODER, UNet, trainDecoder, validateUNetConfig, widenUNet, widenedConfig, type DecoderBatch, type UNetConfig } from "@proj/unclip";
import { embedImages, loadTrainedClip } from "../src/clip-embedder.js";
import { chooseBackend, fromStart, initialModelBytes, initialSteps, MODEL_FILES, parseTrainingArgs, progressReporter, resumeBytes, runPaths, shipModel, unclipTrainOptions, untilDoneOrStopped } from "../src/run.js";

const args = parseTrainingArgs({ steps: 6000, batchSize: 32, learningRate: 3e-4, every: 25 }, {
  clip: { type: "string", default: MODEL_FILES.clip },
  preset: { type: "string", default: "medium" },
});
const PRESETS: Record<string, Readonly<UNetConfig>> = { small: SMALL_DECODER, medium: MEDIUM_DECODER };
const { steps, batchSize, seed } = args;
const clipPath = fromStart(String(args.values.clip)); // a relative --clip: from where npm was started

const backend = await chooseBackend(args.backend);
const clip = await loadTrainedClip(clipPath);
const preset = Object.hasOwn(PRESETS, String(args.values.preset)) ? PRESETS[String(args.values.preset)] : undefined;
if (preset === undefined) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(", ")}, got ${String(args.values.preset)}`);
const config = validateUNetConfig({ ...preset, clipEmbedDim: clip.config.embedDim });
if (clip.config.imageResolution !== config.imageSize) throw new Error(`the CLIP sees ${clip.config.imageResolution}px images, the decoder makes ${config.imageSize}px`);
const paths = runPaths("decoder");
const resume = resumeBytes(paths, args.fresh);
const init = initialModelBytes(paths, args.init, resume !== undefined);
const decoder = init === undefined ? new UNet(config, { seed }) : initialDecoder(UNet.fromSafetensors(init));

/** The --init model as this run's config: as it is, or widened 2× when it is half as wide. */
function initialDecoder(loaded: UNet): UNet {
  if (JSON.stringify(loaded.config) === JSON.stringify(config)) return loaded;
  if (JSON.stringify(widenedConfig(loaded.config)) === JSON.stringify(config)) {
    const wide = widenUNet(loaded, { seed });
    console.log(`--init ${args.init}: widened ${loaded.config.modelChannels} → ${config.modelChannels} channels (${loaded.parameterCount().toLocaleString()} → ${wide.parameterCount().toLocaleString()} parameters, same output)`);
    loaded.dispose();
    return wide;
  }
  loaded.dispose();
  throw new Error(`--init ${args.init}: its config ${JSON.stringify(loaded.config)} is neither this run's ${JSON.stringify(config)} nor half as wide (--preset)`);
}
const start = resume === undefined ? 0 : Number(parseSafetensors(resume).metadata.step ?? 0);
const dataset = await createEmojiDataset({ split: "train" });
console.log(`decoder: ${decoder.parameterCount().toLocaleString()} parameters on ${backend}; CLIP ${clipPath}; ${resume ? `resuming at ${start}` : init ? `starting from ${args.init} (${initialSteps(paths)} steps)` : "starting"} (target ${steps}, batch ${batchSize})`);

async function* batches(): AsyncGenerator<DecoderBatch> {
  for await (const batch of dataset.batches({ batchSize, seed, epochs: 1_000_000, dropLast: true, skipBatches: start, augment: true, size: config.imageSize })) {
    yield { images: tf.tensor4d(batch.images, [...batch.shape] as [number, number, number, number]), imageEmbeddings: embedImages(clip, batch.images, batch.shape[0]) };
  }
}

const reporter = progressReporter(paths, "decoder", steps);
const result = await untilDoneOrStopped(
  paths,
  reporter,
  trainDecoder(decoder, batches(), unclipTrainOptions("decoder", paths, reporter, args, resume)),
);
shipModel("decoder", decoder, result.step);
console.log(`done: ${result.step} steps; EMA weights in packages/unclip/models/decoder.safetensors; loss plot ${paths.plot}`);
