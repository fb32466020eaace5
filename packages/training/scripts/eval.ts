/**
 * npm run eval [-- --models <folder> | --clip <file> --prior <file|none> --decoder <file> --upsampler <file|none>]
 *              [--limit N] [--retrieval 500] [--reconstruct 32] [--generate 32] [--steps 25] [--guidance G] [--eta 0]
 *              [--upsampler-steps 10] [--batch-size 16] [--seed 0] [--backend native|wasm]
 *              [--skip zero-shot,retrieval,reconstruction,r-precision]
 *
 * The whole pipeline on the held-out emoji (packages/training-data README), as one table, written to runs/eval.md and
 * runs/eval.json with the date, commit, model files, backend and the time each part took:
 *
 *   1. zero-shot   top-1/top-5 of the CLIP on the unseen styles, Apple and Facebook separately, among the canonical
 *                  captions of every training concept; and on the unseen concepts (all five styles) among the held-out
 *                  names. Each with the canonical caption alone and with prompt ensembling (the normalised mean of the
 *                  normalised text embeddings of the eight training templates, `allCaptions`).
 *   2. retrieval   image→text and text→image recall@1/@5 on the first 500 images (--retrieval) of the unseen-concept
 *                  images in a seeded order (default skin tone, all five styles), with their canonical captions. A
 *                  caption is a match for every image of its concept (one concept has up to five styles), so image→text
 *                  ranks the distinct captions of the set, and text→image asks for any image of the concept.
 *   3. reconstruction  the first --reconstruct of those images: CLIP image embedding → decoder (→ upsampler, when
 *                  there is one, then 2×2 box-averaged back to the CLIP's 32×32, as the data loader downsizes) → CLIP
 *                  embedding; mean cosine(original, reconstruction) beside the mean cosine between distinct held-out
 *                  images of the retrieval set, and how often a reconstruction is nearest to its own original.
 *   4. R-precision --generate held-out captions (distinct canonical captions of the held-out concepts, seeded order):
 *                  caption → prior → decoder (→ upsampler) exactly as `textToImage` does, batched; the generated image's
 *                  CLIP embedding ranks its own caption first among 20 (itself + 19 other held-out captions drawn with
 *                  the seed)? Beside chance (5%) and the same test with a real image of the concept (a ceiling).
 *
 * Every choice of data and noise comes from --seed (default 0): the same models give the same numbers run to run on
 * one backend (and one --batch-size: batch b of the decoder and the prior draws its noise from seed + b). A part whose model is missing is reported as skipped. Images are composited on white at 32×32.
 */
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { encodeImage, encodeTextTokens, loadClip, parseSafetensors, CLIP_MEAN, CLIP_STD, type ClipModel } from "@proj/clip";
import { allCaptions, canonicalCaption, createEmojiDataset, createRandom, shuffledIndices, SPLITS, type EmojiDataset, type EmojiStyle, type SplitName } from "@proj/training-data";
import { decoderGuidance, loadPipeline, samplePrior, sample, type LoadedPipeline } from "@proj/unclip";
import { SingleBar } from "cli-progress";
import { embedCaptions } from "../src/clip-embedder.js";
import {
  chanceAtK,
  cosineMatrix,
  ensembleRows,
  labelIds,
  mean,
  meanOffDiagonal,
  ranksOfRelevant,
  hitRate,
  rowCosines,
  rPrecision,
  rPrecisionCandidates,
  topKAccuracy,
  type Matrix,
} from "../src/metrics.js";
import { MODEL_FILES, REPO_ROOT, chooseBackend } from "../src/run.js";

const PARTS = ["zero-shot", "retrieval", "reconstruction", "r-precision"] as const;
type Part = (typeof PARTS)[number];
const MODEL_NAMES = ["clip", "prior", "decoder", "upsampler"] as const;
type ModelName = (typeof MODEL_NAMES)[number];

// ---------------------------------------------------------------------------------------------------------------------
// 1. Options

const { values } = parseArgs({
  options: {
    models: { type: "string" },
    clip: { type: "string" },
    prior: { type: "string" },
    decoder: { type: "string" },
    upsampler: { type: "string" },
    limit: { type: "string" },
    retrieval: { type: "string", default: "500" },
    reconstruct: { type: "string", default: "32" },
    generate: { type: "string", default: "32" },
    steps: { type: "string", default: "25" },
    guidance: { type: "string" }, // default: decoderGuidance(decoder), as sample() uses
    eta: { type: "string", default: "0" }, // the decoder's DDIM η (0 deterministic, 1 DDPM-like)
    "upsampler-steps": { type: "string", default: "10" },
    "batch-size": { type: "string", default: "16" },
    seed: { type: "string", default: "0" },
    backend: { type: "string" },
    skip: { type: "string", default: "" },
  },
});
const integer = (name: string, min: number): number => {
  const value = Number((values as Record<string, string | undefined>)[name]);
  if (!Number.isInteger(value) || value < min) throw new RangeError(`--${name} must be an integer ≥ ${min}, got ${String((values as Record<string, unknown>)[name])}`);
  return value;
};
/** --limit caps every part's number of examples (for a quick look). */
const limit = values.limit === undefined ? Infinity : integer("limit", 1);
const retrievalSize = Math.min(integer("retrieval", 2), limit);
const reconstructCount = Math.min(integer("reconstruct", 2), limit);
const generateCount = Math.min(integer("generate", 1), limit);
const steps = integer("steps", 1);
const upsamplerSteps = integer("upsampler-steps", 1);
const seed = integer("seed", 0);
const batchSize = integer("batch-size", 1);
const guidanceGiven = values.guidance === undefined ? undefined : Number(values.guidance);
if (guidanceGiven !== undefined && !(guidanceGiven >= 0)) throw new RangeError(`--guidance must be a number ≥ 0, got ${values.guidance}`);
const eta = Number(values.eta);
if (!(Number.isFinite(eta) && eta >= 0)) throw new RangeError(`--eta must be a finite number ≥ 0, got ${values.eta}`);
/** How a table row names a non-default η (nothing for the deterministic 0). */
const etaNote = eta === 0 ? "" : `, η ${eta}`;
const skipped = new Set(values.skip.split(",").map((s) => s.trim()).filter(Boolean));
for (const part of skipped) if (!PARTS.includes(part as Part)) throw new RangeError(`--skip: unknown part "${part}" (parts: ${PARTS.join(", ")})`);

/** Each model's file: --<name>, else <--models>/<name>.safetensors, else the embedded default; "none" leaves it out. */
const modelPaths = Object.fromEntries(
  MODEL_NAMES.map((name) => {
    const given = values[name];
    const path = given ?? (values.models !== undefined ? join(values.models, `${name}.safetensors`) : MODEL_FILES[name]);
    return [name, path === "none" ? undefined : path];
  }),
) as Record<ModelName, string | undefined>;

// ---------------------------------------------------------------------------------------------------------------------
// 2. Models

const started = performance.now();
const backend = await chooseBackend(values.backend);
const files: Partial<Record<ModelName, { path: string; bytes: Uint8Array; trainedSteps: string }>> = {};
for (const name of MODEL_NAMES) {
  const path = modelPaths[name];
  if (path === undefined || !existsSync(path)) continue;
  const buffer = readFileSync(path);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const metadata = parseSafetensors(bytes).metadata;
  files[name] = { path, bytes, trainedSteps: metadata.trainedSteps ?? metadata.step ?? "—" };
}
if (files.clip === undefined) {
  console.error(`no CLIP at ${modelPaths.clip ?? "(none)"}: train it (npm run train:clip), snapshot it (npm run snapshot:clip), or pass --clip / --models`);
  process.exit(2);
}
// The decoder is required by a pipeline; without one only the CLIP is loaded (parts 1 and 2).
const pipeline: LoadedPipeline | undefined =
  files.decoder === undefined
    ? undefined
    : await loadPipeline({ clip: files.clip.bytes, decoder: files.decoder.bytes, prior: files.prior?.bytes ?? null, upsampler: files.upsampler?.bytes ?? null });
const clip: ClipModel = pipeline?.clipModel ?? (await loadClip(files.clip.bytes));
const R = clip.config.imageResolution;
/** The decoder's guidance: --guidance, else sample()'s default (what its file recommends, `npm run recommend`). */
const guidance = guidanceGiven ?? (pipeline === undefined ? undefined : decoderGuidance(pipeline.decoder)); // no decoder: unused
console.error(`eval on ${backend}: ${MODEL_NAMES.map((name) => `${name} ${files[name] === undefined ? "—" : files[name]!.path}`).join("; ")}`);

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

interface Row {
  part: Part;
  evaluation: string;
  n: number | string;
  result: string;
  baseline: string;
}
const rows: Row[] = [];
const timings: Partial<Record<Part, number>> = {};
const results: Record<string, unknown> = {};
const percent = (x: number): string => (Number.isNaN(x) ? "—" : `${(100 * x).toFixed(x < 0.01 ? 2 : 1)}%`);

function progress(title: string, total: number, unit: string): SingleBar {
  const bar = new SingleBar({
    format: `${title.padEnd(14)} [{bar}] {value}/{total} ${unit} | {duration_formatted} | eta {eta_formatted}`,
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
  });
  bar.start(total, 0);
  return bar;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function toMatrix(t: tf.Tensor2D): Promise<Matrix> {
  const data = (await t.data()) as Float32Array;
  const [rows, cols] = t.shape;
  t.dispose();
  return { data, rows, cols };
}

/** Captions → text embeddings, 256 at a time, with the CLIP's tokenizer (cut at its context length). */
async function embedTexts(captions: readonly string[], bar?: SingleBar): Promise<Matrix> {
  const parts: Float32Array[] = [];
  for (let i = 0; i < captions.length; i += 256) {
    const chunk = captions.slice(i, i + 256);
    parts.push((await toMatrix(await embedCaptions(clip, chunk))).data);
    bar?.increment(chunk.length);
    await nextTurn(); // the CPU backends compute synchronously: let the progress bar's timer run
  }
  return concatRows(parts, captions.length, clip.config.embedDim);
}

function concatRows(parts: readonly Float32Array[], rows: number, cols: number): Matrix {
  const data = new Float32Array(rows * cols);
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return { data, rows, cols };
}

/** images [N, S, S, 3] in [0, 1] at any size S that is a multiple of the CLIP's R → CLIP image embeddings. */
async function embedImageTensor(images: tf.Tensor4D): Promise<Matrix> {
  const size = images.shape[1];
  const features = tf.tidy(() => {
    // Box-average down to R (what the data loader does from 64×64), then CLIP-normalise.
    const atClipSize = size === R ? images : size % R === 0 ? tf.avgPool(images, size / R, size / R, "valid") : tf.image.resizeBilinear(images, [R, R], true);
    const normalised = tf.div(tf.sub(atClipSize, tf.tensor1d([...CLIP_MEAN])), tf.tensor1d([...CLIP_STD])) as tf.Tensor4D;
    return encodeImage(clip, normalised);
  });
  return toMatrix(features);
}

interface EmbeddedImages {
  embeddings: Matrix;
  labels: string[]; // canonical caption of each image's concept
}

/** The default-tone images of a split (optionally one style), in the seeded order, embedded by the CLIP. */
async function embedSplit(split: SplitName, styles: readonly EmojiStyle[] | undefined, count: number, title: string): Promise<{ dataset: EmojiDataset; images: EmbeddedImages }> {
  const dataset = await createEmojiDataset({ split, styles, skinTones: false });
  const total = Math.min(count, dataset.examples.length);
  const bar = progress(title, total, "images");
  const parts: Float32Array[] = [];
  const labels: string[] = [];
  for await (const batch of dataset.batches({ batchSize: 64, seed, shuffle: true, augment: false, captions: "canonical", size: R })) {
    const n = Math.min(batch.shape[0], total - labels.length);
    const images = tf.tensor4d(batch.images.subarray(0, n * R * R * 3), [n, R, R, 3]);
    parts.push((await embedImageTensor(images)).data);
    images.dispose();
    for (let i = 0; i < n; i++) {
      labels.push(canonicalCaption(dataset.catalog.concepts[batch.conceptIds[i]!]!));
    }
    bar.update(labels.length);
    if (labels.length >= total) break;
  }
  bar.stop();
  return { dataset, images: { embeddings: concatRows(parts, labels.length, clip.config.embedDim), labels } };
}

/**
 * The labels of a split: one per distinct canonical caption of its concepts (concepts that share a caption share a
 * label), with the captions for ensembling: every template of every concept with that label.
 */
function splitLabels(dataset: EmojiDataset): { names: string[]; ensemble: string[][] } {
  const byLabel = new Map<string, Set<string>>();
  const conceptIds = [...new Set(dataset.examples.map((e) => e.concept.id))].sort((a, b) => a - b);
  for (const id of conceptIds) {
    const concept = dataset.catalog.concepts[id]!;
    const label = canonicalCaption(concept);
    if (!byLabel.has(label)) byLabel.set(label, new Set());
    for (const caption of allCaptions(concept)) byLabel.get(label)!.add(caption);
  }
  return { names: [...byLabel.keys()], ensemble: [...byLabel.values()].map((set) => [...set]) };
}

/**
 * Canonical and ensembled label embeddings. Every distinct caption is embedded once; the canonical caption (template
 * 0) is one of each label's ensemble.
 */
async function labelEmbeddings(labels: { names: string[]; ensemble: string[][] }, title: string): Promise<{ canonical: Matrix; ensembled: Matrix; templates: number }> {
  const { ids, names: captions } = labelIds([...labels.names, ...labels.ensemble.flat()]);
  const bar = progress(title, captions.length, "captions");
  const all = await embedTexts(captions, bar);
  bar.stop();
  const E = all.cols;
  const rowsOf = (from: number, count: number): Matrix => concatRows(Array.from(ids.subarray(from, from + count), (id) => all.data.subarray(id * E, (id + 1) * E)), count, E);
  const L = labels.names.length;
  const members = ids.length - L;
  const groups = labels.ensemble.flatMap((list, g) => list.map(() => g));
  return { canonical: rowsOf(0, L), ensembled: ensembleRows(rowsOf(L, members), groups, L), templates: members / L };
}

function indexOfLabels(labels: readonly string[], names: readonly string[]): Int32Array {
  const index = new Map(names.map((name, i) => [name, i]));
  return Int32Array.from(labels, (label) => {
    const i = index.get(label);
    if (i === undefined) throw new Error(`no label "${label}"`);
    return i;
  });
}

function zeroShotRows(evaluation: string, images: Matrix, truth: Int32Array, labels: { canonical: Matrix; ensembled: Matrix; templates: number }): void {
  const L = labels.canonical.rows;
  for (const [variant, labelMatrix] of [["canonical caption", labels.canonical], [`ensemble of ${labels.templates.toFixed(1)} captions`, labels.ensembled]] as const) {
    const scores = cosineMatrix(images, labelMatrix);
    const top1 = topKAccuracy(scores, truth, 1), top5 = topKAccuracy(scores, truth, 5);
    rows.push({ part: "zero-shot", evaluation: `${evaluation}, ${variant} (${L} labels)`, n: images.rows, result: `top-1 ${percent(top1)} · top-5 ${percent(top5)}`, baseline: `${percent(chanceAtK(L, 1, 1))} · ${percent(chanceAtK(L, 1, 5))}` });
    results[`zero-shot ${evaluation}, ${variant}`] = { images: images.rows, labels: L, top1, top5, chance1: chanceAtK(L, 1, 1), chance5: chanceAtK(L, 1, 5) };
  }
}

function skip(part: Part, why: string): void {
  rows.push({ part, evaluation: `skipped: ${why}`, n: "—", result: "—", baseline: "—" });
  results[part] = { skipped: why };
}

async function timed(part: Part, run: () => Promise<void>): Promise<void> {
  const start = performance.now();
  await run();
  timings[part] = (performance.now() - start) / 1000;
}

/** CLIP image embeddings → decoded images (→ upsampled) in batches; the seed of batch b is seed + b. */
async function decode(embeddings: Matrix, title: string, onBatch?: () => void): Promise<Matrix> {
  const p = pipeline!;
  const batches = Math.ceil(embeddings.rows / batchSize);
  const stepsPerBatch = steps + (p.upsampler === undefined ? 0 : upsamplerSteps);
  const bar = progress(title, batches * stepsPerBatch, "steps");
  const parts: Float32Array[] = [];
  for (let b = 0; b < batches; b++) {
    const count = Math.min(batchSize, embeddings.rows - b * batchSize);
    const chunk = tf.tensor2d(embeddings.data.subarray(b * batchSize * embeddings.cols, (b * batchSize + count) * embeddings.cols), [count, embeddings.cols]);
    const images = await sample(p.decoder, {
      imageEmbeddings: chunk,
      upsampler: p.upsampler,
      upsamplerSteps,
      numInferenceSteps: steps,
      guidanceScale: guidance,
      eta,
      seed: seed + b,
      onProgress: () => bar.increment(),
    });
    chunk.dispose();
    parts.push((await embedImageTensor(images)).data);
    images.dispose();
    onBatch?.();
  }
  bar.stop();
  return concatRows(parts, embeddings.rows, embeddings.cols);
}

/** What the decoding parts compare: "decoder 32²" or "decoder 32² → upsampler 64² → box-averaged to 32²". */
const output = ((decoder = pipeline?.decoder.config, upsampler = pipeline?.upsampler?.config): string => {
  if (decoder === undefined) return "";
  return upsampler === undefined ? `decoder ${decoder.imageSize}²` : `decoder ${decoder.imageSize}² → upsampler ${upsampler.imageSize}² → box-averaged to ${R}²`;
})();

// ---------------------------------------------------------------------------------------------------------------------
// 3. The held-out images

// The unseen-concept images (default tone, every style of the split) in the seeded order: zero-shot uses all of them,
// retrieval the first --retrieval, reconstruction the first --reconstruct.
const needsHeldOut = !skipped.has("zero-shot") || !skipped.has("retrieval") || !skipped.has("reconstruction") || !skipped.has("r-precision");
const heldOutStart = performance.now();
const heldOut = needsHeldOut ? await embedSplit("unseen-concept", undefined, skipped.has("zero-shot") ? Math.max(retrievalSize, reconstructCount) : limit, "held-out images") : undefined;
const heldOutSeconds = (performance.now() - heldOutStart) / 1000;
const heldOutLabels = heldOut === undefined ? undefined : splitLabels(heldOut.dataset);

// ---------------------------------------------------------------------------------------------------------------------
// 4. Zero-shot

if (skipped.has("zero-shot")) skip("zero-shot", "--skip");
else {
  await timed("zero-shot", async () => {
    // One label set for both styles: every training concept (the concepts of the unseen-style split, both styles).
    const labels = splitLabels(await createEmojiDataset({ split: "unseen-style", skinTones: false }));
    const trainingLabels = await labelEmbeddings(labels, "training labels");
    for (const style of ["apple", "facebook"] as const) {
      const { images } = await embedSplit("unseen-style", [style], limit, `${style} images`);
      zeroShotRows(`unseen style ${style[0]!.toUpperCase()}${style.slice(1)}`, images.embeddings, indexOfLabels(images.labels, labels.names), trainingLabels);
    }
    const heldOutEmbedded = await labelEmbeddings(heldOutLabels!, "held-out labels");
    zeroShotRows(`unseen concepts, ${SPLITS["unseen-concept"].styles.length} styles`, heldOut!.images.embeddings, indexOfLabels(heldOut!.images.labels, heldOutLabels!.names), heldOutEmbedded);
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 5. Retrieval

if (skipped.has("retrieval")) skip("retrieval", "--skip");
else {
  await timed("retrieval", async () => {
    const n = Math.min(retrievalSize, heldOut!.images.labels.length);
    const images: Matrix = { data: heldOut!.images.embeddings.data.subarray(0, n * clip.config.embedDim), rows: n, cols: clip.config.embedDim };
    const { ids: imageLabels, names: captions } = labelIds(heldOut!.images.labels.slice(0, n));
    const texts = await embedTexts(captions);
    const captionIds = Int32Array.from(captions, (_, i) => i);
    const imageToText = ranksOfRelevant(cosineMatrix(images, texts), imageLabels, captionIds);
    const textToImage = ranksOfRelevant(cosineMatrix(texts, images), captionIds, imageLabels);
    const relevantPerCaption = captions.map((_, c) => imageLabels.filter((l) => l === c).length);
    const chance = (k: number) => ({ imageToText: chanceAtK(captions.length, 1, k), textToImage: mean(relevantPerCaption.map((r) => chanceAtK(n, r, k))) });
    const set = `${n} held-out images, ${captions.length} distinct captions`;
    rows.push({ part: "retrieval", evaluation: `image→text (${set})`, n, result: `R@1 ${percent(hitRate(imageToText, 1))} · R@5 ${percent(hitRate(imageToText, 5))}`, baseline: `${percent(chance(1).imageToText)} · ${percent(chance(5).imageToText)}` });
    rows.push({ part: "retrieval", evaluation: `text→image (any image of the concept)`, n: captions.length, result: `R@1 ${percent(hitRate(textToImage, 1))} · R@5 ${percent(hitRate(textToImage, 5))}`, baseline: `${percent(chance(1).textToImage)} · ${percent(chance(5).textToImage)}` });
    results.retrieval = {
      images: n,
      captions: captions.length,
      imageToText: { r1: hitRate(imageToText, 1), r5: hitRate(imageToText, 5), chance1: chance(1).imageToText, chance5: chance(5).imageToText },
      textToImage: { r1: hitRate(textToImage, 1), r5: hitRate(textToImage, 5), chance1: chance(1).textToImage, chance5: chance(5).textToImage },
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 6. Decoder reconstruction

if (skipped.has("reconstruction")) skip("reconstruction", "--skip");
else if (pipeline === undefined) skip("reconstruction", "no decoder");
else {
  await timed("reconstruction", async () => {
    const n = Math.min(reconstructCount, heldOut!.images.labels.length);
    const E = clip.config.embedDim;
    const originals: Matrix = { data: heldOut!.images.embeddings.data.subarray(0, n * E), rows: n, cols: E };
    const reconstructions = await decode(originals, "reconstruction");
    const cosines = rowCosines(originals, reconstructions);
    // Baseline: the mean cosine between distinct images of the retrieval set (or of the reconstructed ones).
    const pool = Math.max(n, Math.min(retrievalSize, heldOut!.images.labels.length));
    const poolMatrix: Matrix = { data: heldOut!.images.embeddings.data.subarray(0, pool * E), rows: pool, cols: E };
    const randomPairs = meanOffDiagonal(cosineMatrix(poolMatrix, poolMatrix));
    const nearest = topKAccuracy(cosineMatrix(reconstructions, originals), Int32Array.from({ length: n }, (_, i) => i), 1);
    rows.push({ part: "reconstruction", evaluation: `mean cos(CLIP(x), CLIP(decode(CLIP(x)))), ${output}, ${steps} steps, guidance ${guidance}${etaNote}`, n, result: mean(cosines).toFixed(3), baseline: `${randomPairs.toFixed(3)} (distinct pairs of ${pool})` });
    rows.push({ part: "reconstruction", evaluation: `reconstruction nearest to its own original (of ${n})`, n, result: percent(nearest), baseline: percent(1 / n) });
    results.reconstruction = { images: n, output, steps, guidance, eta, meanCosine: mean(cosines), randomPairCosine: randomPairs, randomPairPool: pool, nearestOwn: nearest, chanceNearest: 1 / n };
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 7. Text-to-image R-precision

if (skipped.has("r-precision")) skip("r-precision", "--skip");
else if (pipeline === undefined) skip("r-precision", "no decoder");
else if (pipeline.prior === undefined) skip("r-precision", "no prior");
else {
  const prior = pipeline.prior;
  await timed("r-precision", async () => {
    // The pool: every distinct held-out caption; the queries: the first --generate of them in the seeded order.
    const pool = heldOutLabels!.names;
    const order = shuffledIndices(pool.length, createRandom(seed + 1));
    const queries = Array.from(order.subarray(0, Math.min(generateCount, pool.length)));
    const candidates = rPrecisionCandidates(queries, Int32Array.from(pool, (_, i) => i), 19, createRandom(seed + 2));
    const poolTexts = await embedTexts(pool);
    const E = clip.config.embedDim;

    // Caption → prior → image embedding, as textToImage does (priorSteps 25, guidance 1.5, 2 candidates), in batches.
    const bar = progress("prior", Math.ceil(queries.length / batchSize) * 25, "steps");
    const priorParts: Float32Array[] = [];
    for (let b = 0; b * batchSize < queries.length; b++) {
      const captions = queries.slice(b * batchSize, (b + 1) * batchSize).map((q) => pool[q]!);
      const ids = clip.tokenizer === undefined ? captions : clip.tokenizer.tokenize(captions, { contextLength: clip.config.contextLength, truncate: true });
      const text = await encodeTextTokens(clip, ids);
      const useTokens = prior.config.textTokenDim > 0;
      const embeddings = await samplePrior(prior, {
        textEmbeddings: text.features,
        textTokens: useTokens ? text.tokens : undefined,
        textMask: useTokens ? text.mask : undefined,
        numInferenceSteps: 25,
        guidanceScale: 1.5,
        candidates: 2,
        seed: seed + b + 104729,
        onProgress: () => bar.increment(),
      });
      tf.dispose([text.features, text.tokens, text.mask]);
      priorParts.push((await toMatrix(embeddings)).data);
    }
    bar.stop();
    const generated = await decode(concatRows(priorParts, queries.length, E), "text-to-image");

    const score = (imageRow: (i: number) => Float32Array, rowsWanted: number[]): number => {
      const data = new Float32Array(rowsWanted.length * 20);
      rowsWanted.forEach((i, r) => {
        const image: Matrix = { data: imageRow(i), rows: 1, cols: E };
        const texts: Matrix = { data: concatRows(candidates[i]!.map((c) => poolTexts.data.subarray(c * E, (c + 1) * E)), 20, E).data, rows: 20, cols: E };
        data.set(cosineMatrix(image, texts).data, r * 20);
      });
      return rPrecision({ data, rows: rowsWanted.length, cols: 20 });
    };
    const all = queries.map((_, i) => i);
    const generatedScore = score((i) => generated.data.subarray(i * E, (i + 1) * E), all);
    // Ceiling: the same test with a real held-out image of the caption (the first in the seeded order), where embedded.
    const realIndex = queries.map((q) => heldOut!.images.labels.indexOf(pool[q]!));
    const withReal = all.filter((i) => realIndex[i]! >= 0);
    const realScore = score((i) => heldOut!.images.embeddings.data.subarray(realIndex[i]! * E, (realIndex[i]! + 1) * E), withReal);
    rows.push({ part: "r-precision", evaluation: `generated image's own caption first of 20 (prior → ${output}, ${steps} steps${etaNote})`, n: queries.length, result: percent(generatedScore), baseline: percent(1 / 20) });
    rows.push({ part: "r-precision", evaluation: `the same with a real image of the caption (ceiling)${withReal.length === 0 ? ": none embedded (--limit)" : ""}`, n: withReal.length, result: percent(realScore), baseline: percent(1 / 20) });
    results["r-precision"] = { captions: queries.length, pool: pool.length, candidates: 20, generated: generatedScore, realImage: realScore, realImages: withReal.length, chance: 1 / 20, output, steps, guidance, eta };
  });
}
pipeline?.dispose();
if (pipeline === undefined) clip.dispose();

// ---------------------------------------------------------------------------------------------------------------------
// 8. Report

const wallSeconds = (performance.now() - started) / 1000;
const commit = (() => {
  try {
    return execSync("git rev-parse --short HEAD", { cwd: REPO_ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
})();
const escape = (text: string | number) => String(text).replaceAll("|", "\\|");
const table = [
  "| part | evaluation | n | result | chance / baseline |",
  "| --- | --- | ---: | --- | --- |",
  ...rows.map((r) => `| ${r.part} | ${escape(r.evaluation)} | ${r.n} | ${r.result} | ${r.baseline} |`),
].join("\n");
const modelTable = [
  "| model | file | size | trainedSteps |",
  "| --- | --- | ---: | ---: |",
  ...MODEL_NAMES.map((name) => {
    const file = files[name];
    if (file === undefined) return `| ${name} | ${modelPaths[name] === undefined ? `left out (--${name} none)` : `${modelPaths[name]} (missing)`} | — | — |`;
    return `| ${name} | ${file.path} | ${(file.bytes.byteLength / 2 ** 20).toFixed(2)} MiB | ${file.trainedSteps} |`;
  }),
].join("\n");
const timeLine = [`held-out images ${heldOutSeconds.toFixed(0)} s`, ...PARTS.map((part) => `${part} ${timings[part] === undefined ? "—" : `${timings[part]!.toFixed(0)} s`}`)].join(" · ");
const markdown = `# Evaluation on the held-out emoji

${new Date().toISOString()} · commit ${commit} · backend ${backend} · seed ${seed} · wall time ${wallSeconds.toFixed(0)} s (${timeLine})

${table}

Zero-shot chance is 1/labels (top-1) and 5/labels (top-5); retrieval chance is that of a random order given the number of
matching candidates; the reconstruction baseline is the mean CLIP cosine between two different held-out images.

${modelTable}
`;
console.log(`\n${markdown}`);
const runs = join(REPO_ROOT, "runs");
mkdirSync(runs, { recursive: true });
writeFileSync(join(runs, "eval.md"), markdown);
writeFileSync(
  join(runs, "eval.json"),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      commit,
      backend,
      seed,
      wallSeconds,
      partSeconds: { heldOutImages: heldOutSeconds, ...timings },
      options: { limit: Number.isFinite(limit) ? limit : null, retrieval: retrievalSize, reconstruct: reconstructCount, generate: generateCount, steps, guidance, eta, upsamplerSteps },
      models: Object.fromEntries(MODEL_NAMES.map((name) => [name, files[name] === undefined ? null : { path: files[name]!.path, bytes: files[name]!.bytes.byteLength, trainedSteps: files[name]!.trainedSteps }])),
      results,
      table: rows,
    },
    null,
    2,
  ),
);
console.error(`wrote ${join(runs, "eval.md")} and ${join(runs, "eval.json")}`);
