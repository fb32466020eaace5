#!/usr/bin/env node
/**
 * proj-unclip: the unCLIP pipeline from the command line.
 *
 *   proj-unclip classify cat.png dog.png --labels "cat,dog,car" [--json] [--top-k 1]
 *   proj-unclip generate "a red apple" --count 4 --out apples.png        text → prior → decoder → upsampler, a grid
 *   proj-unclip variations photo.png --count 4 --out variations.png
 *   proj-unclip blend a.png b.png --weights 0,0.3,0.7,1 --out blend.png   one image per weight, a strip
 *   proj-unclip animate photo.png --frames 24 --out loop.gif
 *   proj-unclip demo --out demo/                                          all of the above + index.html
 *
 * Arguments are checked and files read before any model is loaded; every error is one `proj-unclip: ...` line on
 * stderr and exit code 2. SIGINT/SIGTERM abort the running pipeline call through its AbortSignal (exit 130/143); a
 * second one quits at once. With PROJ_UNCLIP_CHECK_TENSORS=1 in the environment the CLI reports the live tfjs
 * tensors before loading and after disposing (the tests check that nothing leaks).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type * as tfCore from "@tensorflow/tfjs-core";
import type { ClipModel, ImageInput, ZeroShotScore } from "@proj/clip";
import { SingleBar } from "cli-progress";
import { encode as encodePng } from "fast-png";
import gifenc from "gifenc";
import type { LoadedPipeline, PipelineModelName } from "./default-models.js";
import type { DecodeOptions } from "./pipeline.js";
import type { SampleProgress } from "./sample.js";
import type { SamplingDefaults } from "./unet.js";

/**
 * tfjs, the kernels and the models, imported once the arguments have been checked: importing them takes about half a
 * second, which --help and usage errors need not wait for.
 */
async function importLibraries() {
  const [tf, kernels, clip, defaults, pipeline] = await Promise.all([
    import("@tensorflow/tfjs-core"),
    import("@proj/tensor-kernels"),
    import("@proj/clip"),
    import("./default-models.js"),
    import("./pipeline.js"),
    import("@proj/tensor-kernels/register"),
  ]);
  return { tf, setupBackend: kernels.setupBackend, clip, defaults, pipeline };
}

let lib: Awaited<ReturnType<typeof importLibraries>>;

// ---------------------------------------------------------------------------------------------------------------------
// Defaults and help

const DEFAULTS = {
  seed: 0,
  steps: 25, // decoder
  guidance: 3, // decoder
  upsamplerSteps: 10,
  priorSteps: 25,
  priorGuidance: 1.5,
  count: 4,
  weights: [0, 0.25, 0.5, 0.75, 1],
  frames: 16,
  fps: 8,
};

/** The demo's built-in examples: every prompt is generated; the first images of some feed the other commands. */
const DEMO = {
  prompts: ["a red apple", "a grinning face", "a cat face", "a rocket"],
  variations: "a red apple",
  blend: ["a red apple", "a rocket"],
  animate: "a grinning face",
} as const;

const COMMON_HELP = `Common options:
  --seed <n>              seed of all noise (default ${DEFAULTS.seed}): the same seed gives the same images on a backend
  --steps <n>             decoder denoising steps (default ${DEFAULTS.steps})
  --guidance <s>          decoder classifier-free guidance scale ≥ 0 (default: the decoder's recommended scale from its
                          model file, else ${DEFAULTS.guidance}; 1 turns it off)
  --eta <η>               decoder DDIM η ≥ 0 (default 0, deterministic; 1 draws fresh noise at each step: closer
                          reconstructions with the embedded decoder v5, but animations lose their smoothness)
  --upsampler-steps <n>   upsampler steps, when the models have an upsampler (default ${DEFAULTS.upsamplerSteps})
  --models <folder>       clip.safetensors and decoder.safetensors, optionally prior.safetensors and
                          upsampler.safetensors (default: the embedded default models)
  --backend <name>        tfjs backend: native, wasm or cpu (default: native when the addon of
                          @proj/tensor-kernels was built at install, else wasm); named on stderr
  -h, --help              show this help`;

const PRIOR_HELP = `  --prior-steps <n>       prior denoising steps (default ${DEFAULTS.priorSteps})
  --prior-guidance <s>    prior classifier-free guidance scale ≥ 0 (default ${DEFAULTS.priorGuidance})`;

const IMAGES_NOTE = "Images: PNG or JPEG files. Output images have the decoder's size (the upsampler's when the models have one).";

const HELP = `Usage: proj-unclip <command> [arguments] [options]

unCLIP (DALL·E 2) on TensorFlow.js: CLIP embeddings decoded into images by a diffusion decoder.

Commands:
  classify <image ...> --labels <l1,l2,...>       zero-shot classification with the CLIP
  generate <prompt> [--count n] [--out f.png]      text → prior → decoder → upsampler: a PNG grid
  variations <image> [--count n] [--out f.png]     new images of the image's CLIP embedding: a PNG grid
  blend <a> <b> [--weights w,...] [--out f.png]    images between two images' embeddings: a PNG strip
  animate <image ...> [--frames n] [--out f.gif]   a looping animation: a GIF
  demo [--out folder]                              all of the above on built-in examples, with an index.html

Run \`proj-unclip <command> --help\` for a command's options.
  -h, --help              show this help
  -v, --version           show the version
Models: --models <folder> with clip/decoder (and optionally prior/upsampler) .safetensors; by default the embedded
default models of @proj/unclip and @proj/clip.`;

// ---------------------------------------------------------------------------------------------------------------------
// Errors

/** Stops the command: main prints `proj-unclip: <message>` on stderr and exits with code 2. */
function fail(message: string): never {
  throw new Error(message);
}

const isAbort = (error: unknown): boolean => error instanceof Error && error.name === "AbortError";

// ---------------------------------------------------------------------------------------------------------------------
// Arguments

type Values = Record<string, string | boolean | undefined>;

const str = (values: Values, name: string): string | undefined => (typeof values[name] === "string" ? (values[name] as string) : undefined);

/** An integer ≥ `min` from `--name`, or `fallback` when the option is absent. */
function integerOption(values: Values, name: string, min: number, fallback: number): number {
  const value = str(values, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    fail(`--${name} must be ${min === 1 ? "a positive integer" : `an integer ≥ ${min}`}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A finite number ≥ `min` from `--name`, or `fallback` when the option is absent. */
function numberOption(values: Values, name: string, min: number, fallback: number): number {
  const value = str(values, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min) fail(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function parseWeights(value: string | undefined): number[] {
  if (value === undefined) return DEFAULTS.weights;
  return value.split(",").map((part) => {
    const w = Number(part);
    if (part.trim() === "" || !Number.isFinite(w)) fail(`--weights: ${JSON.stringify(part)} is not a number (a comma-separated list in [0, 1], e.g. 0,0.3,0.7,1)`);
    if (w < 0 || w > 1) fail(`--weights: ${part.trim()} is outside [0, 1]`);
    return w;
  });
}

function parseLabels(list: string): string[] {
  const labels = list.split(",").map((label) => label.trim());
  const empty = labels.findIndex((label) => label === "");
  if (empty >= 0) fail(`--labels: label ${empty + 1} of ${labels.length} is empty in ${JSON.stringify(list)}`);
  const duplicate = labels.find((label, i) => labels.indexOf(label) !== i);
  if (duplicate !== undefined) fail(`--labels: duplicate label ${JSON.stringify(duplicate)}`);
  return labels;
}

/** The templates, or undefined for @proj/clip's DEFAULT_TEMPLATES. */
function parseTemplates(list: string | undefined): readonly string[] | undefined {
  if (list === undefined) return undefined;
  const templates = list.split("|");
  const bad = templates.find((template) => !template.includes("{}"));
  if (bad !== undefined) fail(`--templates: template ${JSON.stringify(bad)} has no "{}" for the label`);
  return templates;
}

/** The decoder guidance a call without --guidance uses: the decoder's recommended scale, else the default. */
const guidanceOf = (pipeline: { decoder: { samplingDefaults: SamplingDefaults } }): number => pipeline.decoder.samplingDefaults.guidanceScale ?? DEFAULTS.guidance;

/** The decoder options every image command shares. */
function decodeOptions(values: Values): DecodeOptions {
  return {
    seed: integerOption(values, "seed", 0, DEFAULTS.seed),
    numInferenceSteps: integerOption(values, "steps", 1, DEFAULTS.steps),
    guidanceScale: str(values, "guidance") === undefined ? undefined : numberOption(values, "guidance", 0, DEFAULTS.guidance),
    eta: numberOption(values, "eta", 0, 0),
    upsamplerSteps: integerOption(values, "upsampler-steps", 1, DEFAULTS.upsamplerSteps),
  };
}

function priorOptions(values: Values): { priorSteps: number; priorGuidanceScale: number } {
  return {
    priorSteps: integerOption(values, "prior-steps", 1, DEFAULTS.priorSteps),
    priorGuidanceScale: numberOption(values, "prior-guidance", 0, DEFAULTS.priorGuidance),
  };
}

/** `--out` (or the default), checked to end in `extension` and to lie in an existing folder. */
function outputFile(values: Values, extension: ".png" | ".gif", fallback: string): string {
  const out = str(values, "out") ?? fallback;
  if (!out.toLowerCase().endsWith(extension)) fail(`--out must name a ${extension} file, got ${JSON.stringify(out)}`);
  const folder = dirname(out);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) fail(`--out: the folder ${folder} does not exist`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Input images and models

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
const startsWith = (bytes: Uint8Array, signature: readonly number[]): boolean => signature.every((b, i) => bytes[i] === b);

function readFileOrFail(path: string, what: string): Uint8Array {
  try {
    const buffer = readFileSync(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    return fail(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** Reads an image file and checks that it is a PNG or JPEG (decoding is checked by `checkDecodable`). */
function readImage(path: string): Uint8Array {
  const bytes = readFileOrFail(path, "image");
  if (!startsWith(bytes, PNG_SIGNATURE) && !startsWith(bytes, JPEG_SIGNATURE)) fail(`${path} is not a PNG or JPEG image`);
  return bytes;
}

/** Decodes every image once (at a tiny size) so that a broken file fails before any model is loaded. */
async function checkDecodable(paths: readonly string[], images: readonly Uint8Array[]): Promise<void> {
  for (const [i, bytes] of images.entries()) {
    try {
      (await lib.clip.preprocess(bytes, { size: 4 })).dispose();
    } catch (error) {
      fail(`cannot decode image ${paths[i]}: ${(error as Error).message}`);
    }
  }
}

/** Where each model is read from: `--models <folder>`, else the embedded defaults; `null` where an optional one is missing. */
interface ModelFiles {
  files: Record<PipelineModelName, string | null>;
  /** Where they come from, for messages: "the models in <folder>" or "the embedded default models". */
  origin: string;
}

const OPTIONAL_MODELS: ReadonlySet<PipelineModelName> = new Set(["prior", "upsampler"]);

function modelFiles(values: Values, required: readonly PipelineModelName[]): ModelFiles {
  const folder = str(values, "models");
  if (folder !== undefined && (!existsSync(folder) || !statSync(folder).isDirectory())) fail(`--models: ${folder} is not a folder`);
  const names: PipelineModelName[] = ["clip", "prior", "decoder", "upsampler"];
  const path = (name: PipelineModelName): string => (folder === undefined ? fileURLToPath(lib.defaults.DEFAULT_MODEL_URLS[name]) : join(folder, `${name}.safetensors`));
  const missing = names.filter((name) => required.includes(name) && !existsSync(path(name)));
  if (missing.length > 0) {
    const list = missing.map(path).join(", ");
    if (folder === undefined) {
      fail(
        `the embedded default models are missing (${list}): they are not trained yet — train them with \`npm run train:clip\`, ` +
          "`train:prior`, `train:decoder` and `train:upsampler` at the repository root, or pass --models <folder> " +
          "with clip.safetensors and decoder.safetensors (optionally prior.safetensors and upsampler.safetensors)",
      );
    }
    fail(`--models ${folder}: missing ${list} (the folder needs clip.safetensors and decoder.safetensors, optionally prior.safetensors and upsampler.safetensors)`);
  }
  const files = Object.fromEntries(
    names.map((name) => [name, OPTIONAL_MODELS.has(name) && !existsSync(path(name)) ? null : path(name)]),
  ) as Record<PipelineModelName, string | null>;
  return { files, origin: folder === undefined ? "the embedded default models" : `the models in ${folder}` };
}

function requirePrior(models: ModelFiles, command: string): void {
  if (models.files.prior === null) fail(`${command} turns text into images and needs a prior model, but ${models.origin} have none (no prior.safetensors)`);
}

/** Live tensors once the backend is up (before any model), for PROJ_UNCLIP_CHECK_TENSORS. */
let tensorsAtStart: number | undefined;

/** Sets up the backend and names it on stderr. */
async function startBackend(values: Values): Promise<string> {
  let backend: string;
  try {
    backend = await lib.setupBackend(str(values, "backend"));
  } catch (error) {
    return fail(`--backend: ${(error as Error).message}`);
  }
  process.stderr.write(`proj-unclip: backend ${backend}\n`);
  tensorsAtStart = lib.tf.memory().numTensors;
  return backend;
}

async function loadModels(models: ModelFiles): Promise<LoadedPipeline> {
  const { clip, prior, decoder, upsampler } = models.files;
  try {
    return await lib.defaults.loadPipeline({ clip: clip!, decoder: decoder!, prior, upsampler });
  } catch (error) {
    return fail(`cannot load ${models.origin}: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Progress (stderr; in a terminal a live bar, elsewhere a line every few seconds)

/** A progress bar for one pipeline call, shown only once the call has run for a second. */
class Progress {
  private bar: SingleBar | undefined;
  private readonly start = Date.now();
  private imagesDone = 0;
  private stage = "";

  constructor(
    private readonly task: string,
    private readonly images: number,
  ) {}

  readonly onProgress = ({ stage, step, of }: SampleProgress): void => {
    this.stage = stage;
    if (this.bar === undefined) {
      if (Date.now() - this.start < 1000) return;
      this.bar = new SingleBar({
        format: `${this.task} [{bar}] {stage} {value}/{total} | images {done}/{images} | {duration_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 5000,
      });
      this.bar.start(of, step, this.payload());
      return;
    }
    if (this.bar.getTotal() !== of) this.bar.setTotal(of);
    this.bar.update(step, this.payload());
  };

  readonly onImage = (): void => {
    this.imagesDone++;
    this.bar?.update(this.payload());
  };

  private payload() {
    return { stage: this.stage, done: this.imagesDone, images: this.images };
  }

  stop(): void {
    this.bar?.stop();
  }
}

/** Runs one pipeline call with a progress bar and the abort signal. */
async function withProgress<T>(task: string, images: number, signal: AbortSignal, call: (options: DecodeOptions) => Promise<T>): Promise<T> {
  const progress = new Progress(task, images);
  try {
    return await call({ signal, onProgress: progress.onProgress, onImage: progress.onImage });
  } finally {
    progress.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Output images

/** 8-bit RGB images of one size. */
interface Frames {
  count: number;
  width: number;
  height: number;
  /** [count, height, width, 3] */
  data: Uint8Array;
}

/** [N, H, W, 3] in [0, 1] → 8-bit RGB; disposes `images`. */
async function takeFrames(images: tfCore.Tensor4D): Promise<Frames> {
  const { tf } = lib;
  const [count, height, width] = images.shape;
  const bytes = tf.tidy(() => tf.cast(tf.round(tf.mul(tf.clipByValue(images, 0, 1), 255)), "int32"));
  images.dispose();
  try {
    return { count, width, height, data: Uint8Array.from(await bytes.data()) };
  } finally {
    bytes.dispose();
  }
}

/** One frame as an image the pipeline takes as input. */
const frameImage = (frames: Frames, i: number): ImageInput => {
  const size = frames.width * frames.height * 3;
  return { data: frames.data.slice(i * size, (i + 1) * size), width: frames.width, height: frames.height, channels: 3 };
};

/** The frames in a grid of `columns` (default ⌈√N⌉) left to right, top to bottom; empty cells white. */
function gridPng(frames: Frames, columns = Math.ceil(Math.sqrt(frames.count))): { png: Uint8Array; width: number; height: number } {
  const { count, width: w, height: h } = frames;
  const rows = Math.ceil(count / columns);
  const width = columns * w;
  const height = rows * h;
  const data = new Uint8Array(width * height * 3).fill(255);
  for (let i = 0; i < count; i++) {
    const x0 = (i % columns) * w;
    const y0 = Math.floor(i / columns) * h;
    for (let y = 0; y < h; y++) {
      const from = ((i * h + y) * w) * 3;
      data.set(frames.data.subarray(from, from + w * 3), ((y0 + y) * width + x0) * 3);
    }
  }
  return { png: encodePng({ width, height, data, channels: 3, depth: 8 }), width, height };
}

/** A looping GIF of the frames, one palette for all (no flicker between frames), `fps` frames per second. */
function loopingGif(frames: Frames, fps: number): Uint8Array {
  const { count, width, height } = frames;
  const pixels = width * height;
  const rgba = new Uint8Array(count * pixels * 4);
  for (let p = 0; p < count * pixels; p++) {
    rgba[4 * p] = frames.data[3 * p]!;
    rgba[4 * p + 1] = frames.data[3 * p + 1]!;
    rgba[4 * p + 2] = frames.data[3 * p + 2]!;
    rgba[4 * p + 3] = 255;
  }
  const palette = gifenc.quantize(rgba, 256);
  const gif = gifenc.GIFEncoder();
  for (let f = 0; f < count; f++) {
    const index = gifenc.applyPalette(rgba.slice(f * pixels * 4, (f + 1) * pixels * 4), palette);
    gif.writeFrame(index, width, height, { palette: f === 0 ? palette : undefined, delay: 1000 / fps, repeat: 0 });
  }
  gif.finish();
  return gif.bytes();
}

function writeOutput(path: string, bytes: Uint8Array, what: string): void {
  try {
    writeFileSync(path, bytes);
  } catch (error) {
    fail(`cannot write ${path}: ${(error as Error).message}`);
  }
  process.stderr.write(`proj-unclip: wrote ${what} to ${path}\n`);
}

// ---------------------------------------------------------------------------------------------------------------------
// The commands

/** The work of a command whose arguments have been checked; runs once the libraries are imported. */
type Job = (signal: AbortSignal) => Promise<void>;

interface Command {
  help: string;
  options: Record<string, { type: "string" | "boolean"; short?: string }>;
  /** Checks the arguments and reads the input files (no tfjs yet), then returns the work. */
  check(values: Values, positionals: string[]): Job;
}

const commonOptions = {
  models: { type: "string" },
  backend: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const decodeOptionSpecs = {
  ...commonOptions,
  seed: { type: "string" },
  steps: { type: "string" },
  guidance: { type: "string" },
  eta: { type: "string" },
  "upsampler-steps": { type: "string" },
  out: { type: "string" },
} as const;

const priorOptionSpecs = { "prior-steps": { type: "string" }, "prior-guidance": { type: "string" } } as const;

/** Images classified per batch, to bound memory for long file lists. */
const CLASSIFY_BATCH = 16;

const formatScores = (image: string, scores: readonly ZeroShotScore[]): string =>
  [image, ...scores.map(({ label, score }) => `  ${(score * 100).toFixed(2).padStart(6)}%  ${label}`)].join("\n");

const classify: Command = {
  help: `Usage: proj-unclip classify <image ...> --labels <l1,l2,...> [options]

Zero-shot classification with the pipeline's CLIP: scores each image against the labels (softmax over the labels of
the scaled cosine similarity between the image and each label's prompts) and prints the labels by score.

Options:
  --labels <list>         comma-separated class labels, e.g. "cat,dog,car" (required)
  --templates <list>      prompt templates separated by "|", each with "{}" for the label; several are averaged
                          (default: @proj/clip's DEFAULT_TEMPLATES, "a photo of a {}.")
  --top-k <n>             print only the n best labels per image (default: all)
  --json                  print JSON: [{ "image", "scores": [{ "label", "score" }] }], scores in [0, 1]
  --models <folder>       a folder with clip.safetensors (default: the embedded default CLIP)
  --backend <name>        native, wasm or cpu (default: native when built, else wasm); named on stderr
  -h, --help              show this help
Images: PNG or JPEG files.`,
  options: { ...commonOptions, labels: { type: "string" }, templates: { type: "string" }, "top-k": { type: "string" }, json: { type: "boolean" } },
  check(values, images) {
    // 1. Check the arguments, read every file.
    const labelList = str(values, "labels");
    if (labelList === undefined) fail('classify needs --labels "label1,label2,..." (--help for usage)');
    if (images.length === 0) fail("classify needs at least one image file (--help for usage)");
    const labels = parseLabels(labelList);
    const templates = parseTemplates(str(values, "templates"));
    const topK = str(values, "top-k") === undefined ? undefined : integerOption(values, "top-k", 1, 0);
    const imageBytes = images.map(readImage);
    return async () => {
      // 2. Models, backend, images, model.
      const models = modelFiles(values, ["clip"]);
      await startBackend(values);
      await checkDecodable(images, imageBytes);
      let model: ClipModel;
      try {
        model = await lib.clip.loadClip(models.files.clip!);
      } catch (error) {
        return fail(`cannot load ${models.origin}: ${(error as Error).message}`);
      }

      // 3. Embed the labels once, classify in batches, print as we go.
      const results: { image: string; scores: ZeroShotScore[] }[] = [];
      try {
        const classifier = await lib.clip.createZeroShotClassifier(model, labels, { templates });
        try {
          for (let start = 0; start < images.length; start += CLASSIFY_BATCH) {
            const scores = await classifier.classify(imageBytes.slice(start, start + CLASSIFY_BATCH), { topK });
            for (const [i, imageScores] of scores.entries()) {
              const image = images[start + i]!;
              if (values.json) results.push({ image, scores: imageScores });
              else process.stdout.write(`${start + i > 0 ? "\n" : ""}${formatScores(image, imageScores)}\n`);
            }
          }
        } finally {
          classifier.dispose();
        }
      } finally {
        model.dispose();
      }
      if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    };
  },
};

const generate: Command = {
  help: `Usage: proj-unclip generate <prompt> [--count n] [--out file.png] [options]

Text to image: the prompt's CLIP text embedding → the prior → image embeddings → the decoder (→ the upsampler).
Writes the images as a PNG grid of ⌈√count⌉ columns. Needs models with a prior.

Options:
  --count <n>             number of images (default ${DEFAULTS.count})
  --out <file.png>        the PNG grid (default generate.png)
${PRIOR_HELP}
${COMMON_HELP}`,
  options: { ...decodeOptionSpecs, ...priorOptionSpecs, count: { type: "string" } },
  check(values, words) {
    const prompt = words.join(" ").trim();
    if (prompt === "") fail('generate needs a prompt, e.g. proj-unclip generate "a red apple" (--help for usage)');
    const count = integerOption(values, "count", 1, DEFAULTS.count);
    const options = { ...decodeOptions(values), ...priorOptions(values), count };
    const out = outputFile(values, ".png", "generate.png");
    return async (signal) => {
      const models = modelFiles(values, ["clip", "decoder"]);
      requirePrior(models, "generate");
      await startBackend(values);
      const pipeline = await loadModels(models);
      try {
        const images = await withProgress("generate", count, signal, (call) => lib.pipeline.textToImage(pipeline, prompt, { ...options, ...call }));
        writeOutput(out, gridPng(await takeFrames(images)).png, `${count} image${count === 1 ? "" : "s"} of ${JSON.stringify(prompt)}`);
      } finally {
        pipeline.dispose();
      }
    };
  },
};

const variationsCommand: Command = {
  help: `Usage: proj-unclip variations <image> [--count n] [--out file.png] [options]

Variations: the image's CLIP embedding decoded from fresh noise, count times. Writes a PNG grid of ⌈√count⌉ columns.

Options:
  --count <n>             number of variations (default ${DEFAULTS.count})
  --out <file.png>        the PNG grid (default variations.png)
${COMMON_HELP}
${IMAGES_NOTE}`,
  options: { ...decodeOptionSpecs, count: { type: "string" } },
  check(values, images) {
    if (images.length !== 1) fail(`variations takes one image, got ${images.length} (--help for usage)`);
    const image = readImage(images[0]!);
    const count = integerOption(values, "count", 1, DEFAULTS.count);
    const options = { ...decodeOptions(values), count };
    const out = outputFile(values, ".png", "variations.png");
    return async (signal) => {
      const models = modelFiles(values, ["clip", "decoder"]);
      await startBackend(values);
      await checkDecodable(images, [image]);
      const pipeline = await loadModels(models);
      try {
        const result = await withProgress("variations", count, signal, (call) => lib.pipeline.variations(pipeline, image, { ...options, ...call }));
        writeOutput(out, gridPng(await takeFrames(result)).png, `${count} variation${count === 1 ? "" : "s"} of ${images[0]}`);
      } finally {
        pipeline.dispose();
      }
    };
  },
};

const blend: Command = {
  help: `Usage: proj-unclip blend <image-a> <image-b> [--weights w1,w2,...] [--out file.png] [options]

Interpolation: decodes the spherical interpolation between the two images' CLIP embeddings at each weight of image
B (0 = image A, 1 = image B), all from the same noise. Writes the images left to right as a PNG strip.

Options:
  --weights <list>        comma-separated weights of image B in [0, 1] (default ${DEFAULTS.weights.join(",")})
  --out <file.png>        the PNG strip (default blend.png)
${COMMON_HELP}
${IMAGES_NOTE}`,
  options: { ...decodeOptionSpecs, weights: { type: "string" } },
  check(values, images) {
    if (images.length !== 2) fail(`blend takes two images, got ${images.length} (--help for usage)`);
    const weights = parseWeights(str(values, "weights"));
    const [a, b] = images.map(readImage) as [Uint8Array, Uint8Array];
    const options = { ...decodeOptions(values), weights };
    const out = outputFile(values, ".png", "blend.png");
    return async (signal) => {
      const models = modelFiles(values, ["clip", "decoder"]);
      await startBackend(values);
      await checkDecodable(images, [a, b]);
      const pipeline = await loadModels(models);
      try {
        const result = await withProgress("blend", weights.length, signal, (call) => lib.pipeline.interpolate(pipeline, a, b, { ...options, ...call }));
        const frames = await takeFrames(result);
        writeOutput(out, gridPng(frames, frames.count).png, `${weights.length} blend${weights.length === 1 ? "" : "s"} of ${images[0]} and ${images[1]}`);
      } finally {
        pipeline.dispose();
      }
    };
  },
};

const animateCommand: Command = {
  help: `Usage: proj-unclip animate <image ...> [--frames n] [--out file.gif] [options]

A looping animation: for one image a small circle around its CLIP embedding, for several a closed path through them
in order, decoded frame by frame from the same noise (--mode loop); or each frame a variation of the previous one
(--mode drift, one image). Writes a looping GIF.

Options:
  --frames <n>            number of frames, ≥ 2 (default ${DEFAULTS.frames})
  --fps <n>               frames per second of the GIF (default ${DEFAULTS.fps})
  --mode <loop|drift>     how the frames move (default loop)
  --out <file.gif>        the GIF (default animate.gif)
${COMMON_HELP}
${IMAGES_NOTE}`,
  options: { ...decodeOptionSpecs, frames: { type: "string" }, fps: { type: "string" }, mode: { type: "string" } },
  check(values, images) {
    if (images.length === 0) fail("animate needs at least one image file (--help for usage)");
    const frames = integerOption(values, "frames", 2, DEFAULTS.frames);
    const fps = numberOption(values, "fps", Number.MIN_VALUE, DEFAULTS.fps);
    const mode = str(values, "mode") ?? "loop";
    if (mode !== "loop" && mode !== "drift") fail(`--mode must be loop or drift, got ${JSON.stringify(mode)}`);
    const bytes = images.map(readImage);
    const options = { ...decodeOptions(values), frames, mode } as const;
    const out = outputFile(values, ".gif", "animate.gif");
    return async (signal) => {
      const models = modelFiles(values, ["clip", "decoder"]);
      await startBackend(values);
      await checkDecodable(images, bytes);
      const pipeline = await loadModels(models);
      try {
        const result = await withProgress("animate", frames, signal, (call) => lib.pipeline.animate(pipeline, bytes, { ...options, ...call }));
        writeOutput(out, loopingGif(await takeFrames(result), fps), `a ${frames}-frame animation of ${images.join(", ")}`);
      } finally {
        pipeline.dispose();
      }
    };
  },
};

const slug = (text: string): string => text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const demo: Command = {
  help: `Usage: proj-unclip demo [--out folder] [options]

Runs every command on built-in examples and writes the results with an index.html showing them:
  generate    ${DEMO.prompts.map((p) => JSON.stringify(p)).join(", ")} (count images each)
  classify    the first image of each prompt among the ${DEMO.prompts.length} prompts (scores also in classify.json)
  variations  of the first image of ${JSON.stringify(DEMO.variations)}
  blend       between the first images of ${DEMO.blend.map((p) => JSON.stringify(p)).join(" and ")}
  animate     a loop around the first image of ${JSON.stringify(DEMO.animate)}
Needs models with a prior.

Options:
  --out <folder>          where to write (created if needed; default demo)
  --count <n>             images per prompt and variations (default ${DEFAULTS.count})
  --frames <n>            frames of the animation, ≥ 2 (default ${DEFAULTS.frames})
${PRIOR_HELP}
${COMMON_HELP}`,
  options: { ...decodeOptionSpecs, ...priorOptionSpecs, count: { type: "string" }, frames: { type: "string" } },
  check(values, rest) {
    if (rest.length > 0) fail(`demo takes no arguments, got ${rest.map((r) => JSON.stringify(r)).join(" ")} (--help for usage)`);
    const count = integerOption(values, "count", 1, DEFAULTS.count);
    const frames = integerOption(values, "frames", 2, DEFAULTS.frames);
    const decode = decodeOptions(values);
    const prior = priorOptions(values);
    const folder = str(values, "out") ?? "demo";
    return async (signal) => {
      const models = modelFiles(values, ["clip", "decoder"]);
      requirePrior(models, "demo");
      try {
        mkdirSync(folder, { recursive: true });
      } catch (error) {
        fail(`cannot create the folder ${folder}: ${(error as Error).message}`);
      }
      const backend = await startBackend(values);
      const pipeline = await loadModels(models);
      let sections: DemoSection[];
      try {
        sections = await runDemo(pipeline, folder, { count, frames, decode, prior }, signal);
      } finally {
        pipeline.dispose();
      }
      const settings =
        `seed ${decode.seed}, decoder ${decode.numInferenceSteps} steps at guidance ${decode.guidanceScale ?? guidanceOf(pipeline)}, ` +
        `prior ${prior.priorSteps} steps at guidance ${prior.priorGuidanceScale}, ${models.origin}, backend ${backend}`;
      writeOutput(join(folder, "index.html"), new TextEncoder().encode(demoPage(sections, settings)), "the page");
    };
  },
};

interface DemoSection {
  title: string;
  items: { file: string; caption: string; width: number }[];
}

/** Runs the demo's examples, writing their files into `folder`; returns what the page shows. */
async function runDemo(
  pipeline: LoadedPipeline,
  folder: string,
  settings: { count: number; frames: number; decode: DecodeOptions; prior: ReturnType<typeof priorOptions> },
  signal: AbortSignal,
): Promise<DemoSection[]> {
  const { count, frames, decode, prior } = settings;
  const { textToImage, variations, interpolate, animate } = lib.pipeline;
  const png = (images: Frames, file: string, caption: string, columns?: number) => {
    const grid = gridPng(images, columns);
    writeOutput(join(folder, file), grid.png, caption);
    return { file, caption, width: grid.width };
  };

  // 1. Text to image; the first image of each prompt is the input of the other examples.
  const first = new Map<string, ImageInput>();
  const sources = new Map<string, DemoSection["items"][number]>();
  const generated = [];
  for (const [i, prompt] of DEMO.prompts.entries()) {
    const options = { ...decode, ...prior, count, seed: (decode.seed ?? 0) + i };
    const images = await takeFrames(await withProgress(`generate "${prompt}"`, count, signal, (call) => textToImage(pipeline, prompt, { ...options, ...call })));
    generated.push(png(images, `generate-${slug(prompt)}.png`, `"${prompt}"`));
    first.set(prompt, frameImage(images, 0));
    const source = { ...images, count: 1, data: images.data.subarray(0, images.width * images.height * 3) };
    sources.set(prompt, png(source, `source-${slug(prompt)}.png`, `"${prompt}", first image`));
  }
  const sections: DemoSection[] = [{ title: `Text to image (${count} per prompt)`, items: generated }];

  // 2. Zero-shot classification of those first images among the demo's prompts, with the pipeline's CLIP: does each
  // generated image read back as its own prompt? The scores go into the captions and classify.json.
  const labels = [...DEMO.prompts];
  const classifier = await lib.clip.createZeroShotClassifier(pipeline.clipModel, labels);
  const classified: { image: string; prompt: string; scores: ZeroShotScore[] }[] = [];
  try {
    const scores = await classifier.classify(labels.map((prompt) => first.get(prompt)!));
    for (const [i, prompt] of labels.entries()) classified.push({ image: sources.get(prompt)!.file, prompt, scores: scores[i]! });
  } finally {
    classifier.dispose();
  }
  writeOutput(join(folder, "classify.json"), new TextEncoder().encode(`${JSON.stringify(classified, null, 2)}\n`), "the classification scores");
  sections.push({
    title: `Zero-shot classification among the ${labels.length} prompts (first image of each)`,
    items: classified.map(({ prompt, scores }) => ({
      ...sources.get(prompt)!,
      caption: `"${prompt}": ${scores.slice(0, 2).map(({ label, score }) => `${label} ${score.toFixed(2)}`).join(" · ")}`,
    })),
  });

  // 3. Variations, blend and animation of those images.
  const varied = await takeFrames(await withProgress("variations", count, signal, (call) => variations(pipeline, first.get(DEMO.variations)!, { ...decode, count, ...call })));
  sections.push({ title: "Variations", items: [sources.get(DEMO.variations)!, png(varied, `variations-${slug(DEMO.variations)}.png`, `${count} variations of "${DEMO.variations}"`)] });

  const [a, b] = DEMO.blend;
  const weights = DEFAULTS.weights;
  const blended = await takeFrames(await withProgress("blend", weights.length, signal, (call) => interpolate(pipeline, first.get(a)!, first.get(b)!, { ...decode, weights, ...call })));
  sections.push({ title: "Blend", items: [png(blended, `blend-${slug(a)}-${slug(b)}.png`, `"${a}" → "${b}" at weights ${weights.join(", ")}`, blended.count)] });

  const animation = await takeFrames(await withProgress("animate", frames, signal, (call) => animate(pipeline, first.get(DEMO.animate)!, { ...decode, frames, ...call })));
  const gif = `animate-${slug(DEMO.animate)}.gif`;
  writeOutput(join(folder, gif), loopingGif(animation, DEFAULTS.fps), `a ${frames}-frame loop`);
  sections.push({ title: "Animation", items: [sources.get(DEMO.animate)!, { file: gif, caption: `a ${frames}-frame loop around "${DEMO.animate}"`, width: animation.width }] });
  return sections;
}

/** The demo's index.html: relative links, images shown 4× with crisp pixels, a caption under each. */
function demoPage(sections: readonly DemoSection[], settings: string): string {
  const figure = ({ file, caption, width }: DemoSection["items"][number]): string =>
    `<figure><a href="${encodeURI(file)}"><img src="${encodeURI(file)}" width="${width * 4}" alt="${escapeHtml(caption)}"></a>` +
    `<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
  const body = sections.map(({ title, items }) => `<section>\n<h2>${escapeHtml(title)}</h2>\n${items.map(figure).join("\n")}\n</section>`).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>proj-unclip demo</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; }
  section { margin-bottom: 2rem; }
  figure { display: inline-block; margin: 0 1.5rem 1rem 0; vertical-align: top; }
  img { image-rendering: pixelated; }
  figcaption { font-size: 0.9rem; color: #444; }
</style>
</head>
<body>
<h1>proj-unclip demo</h1>
${body}
<p><small>${escapeHtml(settings)}</small></p>
</body>
</html>
`;
}

const COMMANDS: Record<string, Command> = { classify, generate, variations: variationsCommand, blend, animate: animateCommand, demo };

// ---------------------------------------------------------------------------------------------------------------------
// Main

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function main(signal: AbortSignal): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  if (name === undefined) fail("no command given: use `proj-unclip <command> ...` (--help for the commands)");
  if (name === "-h" || name === "--help") return void process.stdout.write(`${HELP}\n`);
  if (name === "-v" || name === "--version") return void process.stdout.write(`${version()}\n`);
  if (name.startsWith("-")) fail(`the command comes first: proj-unclip <command> [arguments] [options], got ${name} (--help for usage)`);
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name]! : fail(`unknown command ${JSON.stringify(name)} (commands: ${Object.keys(COMMANDS).join(", ")}; --help for usage)`);
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: command.options });
  } catch (error) {
    fail(`${name}: ${(error as Error).message} (proj-unclip ${name} --help for usage)`);
  }
  const { values, positionals } = parsed;
  if (values.help) return void process.stdout.write(`${command.help}\n`);
  const job = command.check(values, positionals);
  lib = await importLibraries();
  await job(signal);
  if (process.env.PROJ_UNCLIP_CHECK_TENSORS === "1" && tensorsAtStart !== undefined) {
    process.stderr.write(`proj-unclip: live tensors ${tensorsAtStart} before, ${lib.tf.memory().numTensors} after\n`);
  }
}

// Ctrl-C / SIGTERM abort the running pipeline call between two denoising steps; a second signal quits at once.
const controller = new AbortController();
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
let received: keyof typeof EXIT_CODES | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (received !== undefined) process.exit(EXIT_CODES[signal]);
    received = signal;
    process.stderr.write(`\nproj-unclip: ${signal}: stopping (again to quit at once)\n`);
    controller.abort();
  });
}

// Exit codes through process.exitCode, so that stdout (e.g. --json into a pipe) is flushed before the process ends.
main(controller.signal).then(
  () => {
    if (received !== undefined) process.exitCode = EXIT_CODES[received];
  },
  (error: unknown) => {
    if (received !== undefined && (isAbort(error) || controller.signal.aborted)) {
      process.stderr.write(`proj-unclip: interrupted by ${received}\n`);
      process.exitCode = EXIT_CODES[received];
      return;
    }
    process.stderr.write(`proj-unclip: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
