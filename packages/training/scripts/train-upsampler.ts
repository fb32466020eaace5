/**
 * npm run train:upsampler [-- --steps 4000 --batch-size 16 --lr 5e-4 --seed 0 --backend native|wasm --fresh]
 *
 * Trains the embedded default 2× upsampler (SMALL_UPSAMPLER, 32 → 64, v-prediction) on the training split of the
 * emoji data (Google, Twitter and Fluent styles, augmented; the shipped upsampler v0 predates Fluent), on random
 * 32×32 crops (--crop; unCLIP trains its upsamplers on crops, 4× cheaper per step here). Resumable: stop at any
 * time (Ctrl-C writes a checkpoint) and run again to continue from runs/upsampler/checkpoint.safetensors; --fresh
 * starts over. Logs every step to runs/upsampler/log.jsonl, plots runs/upsampler/loss.png at each checkpoint, and
 * writes the EMA weights to packages/unclip/models/upsampler.safetensors (F16) when the run completes.
 */
import * as tf from "@tensorflow/tfjs";
import { parseSafetensors } from "@proj/clip";
import { createEmojiDataset } from "@proj/training-data";
import { SMALL_UPSAMPLER, UNet, trainUpsampler, type UpsamplerBatch } from "@proj/unclip";
import { chooseBackend, parseTrainingArgs, progressReporter, resumeBytes, runPaths, shipModel, unclipTrainOptions, untilDoneOrStopped } from "../src/run.js";

const args = parseTrainingArgs({ steps: 4000, batchSize: 16, learningRate: 5e-4, every: 50 }, { crop: { type: "string", default: "32" } });
const { steps, batchSize, seed } = args;

const backend = await chooseBackend(args.backend);
const paths = runPaths("upsampler");
const config = SMALL_UPSAMPLER; // 32 → 64, v-prediction
const upsampler = new UNet(config, { seed });
const resume = resumeBytes(paths, args.fresh);
const start = resume === undefined ? 0 : Number(parseSafetensors(resume).metadata.step ?? 0);
const dataset = await createEmojiDataset({ split: "train" });
console.log(`upsampler: ${upsampler.parameterCount().toLocaleString()} parameters on ${backend}; ${dataset.examples.length} training images; ${resume ? `resuming at ${start}` : "starting"} (target ${steps} steps, batch ${batchSize})`);

async function* batches(): AsyncGenerator<UpsamplerBatch> {
  for await (const batch of dataset.batches({ batchSize, seed, epochs: 1_000_000, dropLast: true, skipBatches: start, augment: true, size: config.imageSize })) {
    yield { images: tf.tensor4d(batch.images, [...batch.shape] as [number, number, number, number]) };
  }
}

const reporter = progressReporter(paths, "upsampler", steps);
const result = await untilDoneOrStopped(
  paths,
  reporter,
  trainUpsampler(upsampler, batches(), { ...unclipTrainOptions("upsampler", paths, reporter, args, resume, 100), cropSize: Number(args.values.crop) }),
);
shipModel("upsampler", upsampler, result.step);
console.log(`done: ${result.step} steps; EMA weights in packages/unclip/models/upsampler.safetensors; loss plot ${paths.plot}`);
