/**
 * Classify a folder of images against your labels, then write variations of every image and a 30/70 blend of the
 * first two as PNG files — in Node, on the wasm backend, with a progress bar. Copy this file into your app.
 *
 *   npx tsx examples/node/src/main.ts --images ./photos --labels "cat,dog,red apple" --out ./out
 *
 * Models: the embedded defaults of @proj/clip and @proj/unclip unless told otherwise:
 *   --models     a folder with clip, prior, decoder and upsampler .safetensors
 *   --clip, --decoder, --upsampler, --prior    one model file each (the others stay the defaults)
 * Other flags: --count (variations per image, default 2), --steps (denoising steps, default 25), --seed (default 0),
 * --backend (wasm by default; "auto" lets setupBackend pick: native addon, then wasm, then cpu).
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { setupBackend } from "@proj/tensor-kernels";
import { createZeroShotClassifier } from "@proj/clip";
import { interpolate, loadPipeline, textToImage, variations, type SampleProgress } from "@proj/unclip";
import { SingleBar } from "cli-progress";
import { encode } from "fast-png";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);
const UPSAMPLER_STEPS = 10;

// 1. Read the flags and check that the model files exist.
const { values: flags } = parseArgs({
  options: {
    images: { type: "string" },
    labels: { type: "string" },
    out: { type: "string", default: "out" },
    models: { type: "string" },
    clip: { type: "string" },
    decoder: { type: "string" },
    upsampler: { type: "string" },
    prior: { type: "string" },
    count: { type: "string", default: "2" },
    steps: { type: "string", default: "25" },
    seed: { type: "string", default: "0" },
    backend: { type: "string", default: "wasm" },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

if (flags.images === undefined || flags.labels === undefined) {
  fail('usage: npx tsx examples/node/src/main.ts --images <folder> --labels "cat,dog,..." [--out out] [--models <folder>] [--clip …] [--decoder …] [--upsampler …] [--prior …]');
}
const labels = flags.labels.split(",").map((label) => label.trim()).filter((label) => label !== "");
const count = Number(flags.count);
const numInferenceSteps = Number(flags.steps);
const seed = Number(flags.seed);

const images = readdirSync(flags.images)
  .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
  .sort()
  .map((name) => join(flags.images!, name));
if (images.length === 0) fail(`no .png/.jpg images in ${flags.images}`);
mkdirSync(flags.out, { recursive: true });

async function main(): Promise<void> {
  // 2. Choose the backend and load the models.
  const backend = await setupBackend(flags.backend === "auto" ? undefined : (flags.backend as "wasm"));
  console.log(`backend: ${backend}`);
  const pipeline = await loadPipeline(flags.models ?? { clip: flags.clip, decoder: flags.decoder, upsampler: flags.upsampler, prior: flags.prior });
  const { clipModel: clip, upsampler, prior } = pipeline;

  // 3. Zero-shot classification: one sorted list of labels per image.
  const classifier = await createZeroShotClassifier(clip, labels);
  const scores = await classifier.classify(images);
  classifier.dispose();
  images.forEach((image, i) => {
    console.log(basename(image));
    for (const { label, score } of scores[i]!) console.log(`  ${score.toFixed(4)}  ${label}`);
  });

  // 4. Variations of every image and a 30/70 blend of the first two, written as PNG files as they finish.
  async function writePng(path: string, image: tf.Tensor4D): Promise<void> {
    const [, height, width] = image.shape; // [1, H, W, 3] in [0, 1]
    const bytes = tf.tidy(() => tf.cast(tf.round(tf.mul(tf.clipByValue(image, 0, 1), 255)), "int32"));
    const data = Uint8Array.from(await bytes.data());
    bytes.dispose();
    writeFileSync(path, encode({ width, height, data, channels: 3, depth: 8 }));
  }

  const stepsPerImage = numInferenceSteps + (upsampler === undefined ? 0 : UPSAMPLER_STEPS); // decoder + upsampler steps
  const batches = Math.ceil(count / 8); // pipeline calls decode up to 8 images per batch
  const hasBlend = images.length >= 2;
  const hasText = prior !== undefined;
  const total = stepsPerImage * (images.length * batches + (hasBlend ? 1 : 0) + (hasText ? 1 : 0)) + (hasText ? 25 : 0); // prior: 25 steps
  const bar = new SingleBar({ format: "{task} [{bar}] {value}/{total} steps | {stage}", hideCursor: true });
  bar.start(total, 0, { task: "images", stage: "" });
  const onProgress = ({ stage }: SampleProgress): void => bar.increment({ stage });
  const written: string[] = [];
  const stem = (path: string): string => basename(path, extname(path));

  for (const image of images) {
    bar.update({ task: stem(image) });
    const result = await variations(pipeline, image, {
      count,
      numInferenceSteps,
      seed,
      upsamplerSteps: UPSAMPLER_STEPS,
      onProgress,
      onImage: async (index, one) => {
        const path = join(flags.out, `${stem(image)}-variation-${index + 1}.png`);
        await writePng(path, one);
        written.push(path);
      },
    });
    result.dispose();
  }

  if (hasBlend) {
    // interpolate's weight is the share of the second image: 0.3 → 30% of images[1], 70% of images[0].
    bar.update({ task: "blend" });
    const blend = await interpolate(pipeline, images[0]!, images[1]!, { weights: [0.3], numInferenceSteps, seed, upsamplerSteps: UPSAMPLER_STEPS, onProgress });
    const path = join(flags.out, `blend-${stem(images[1]!)}-30-${stem(images[0]!)}-70.png`);
    await writePng(path, blend);
    blend.dispose();
    written.push(path);
  }

  if (hasText) {
    // With a prior: the first image's most likely label, drawn from text alone.
    const label = scores[0]![0]!.label;
    bar.update({ task: "text" });
    const image = await textToImage(pipeline, `a photo of a ${label}.`, { numInferenceSteps, seed, upsamplerSteps: UPSAMPLER_STEPS, onProgress });
    const path = join(flags.out, `text-${label.replaceAll(/[^\w-]+/g, "_")}.png`);
    await writePng(path, image);
    image.dispose();
    written.push(path);
  }
  bar.stop();
  if (!hasBlend) console.log("one image only: no blend (it needs two)");
  console.log(`wrote ${written.length} PNG files:\n${written.map((path) => `  ${path}`).join("\n")}`);

  // 5. Release the models' weights.
  pipeline.dispose();
}

// Errors end the script with their message (not an unhandled rejection, which tfjs-backend-wasm rethrows noisily).
main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
