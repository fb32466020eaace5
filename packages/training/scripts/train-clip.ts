/**
 * npm run train:clip [-- --steps 4000 --batch-size 64 --chunk 64 --lr 5e-4 --seed 0 --backend native|wasm --fresh]
 *
 * Trains the embedded default CLIP (EMOJI_CLIP below: a 32×32 ViT with 4×4 patches and a small text transformer
 * over our own BPE vocabulary) contrastively on the training split of the emoji data (Google + Twitter, augmented,
 * captions sampled from several templates). The vocabulary is learnt once from every training caption with
 * `trainBpe` and kept in runs/clip/vocab.bpe; it ships inside the model (`__metadata__.tokenizer_bpe`).
 *
 * Resumable: Ctrl-C writes runs/clip/checkpoint.safetensors, running again continues (the data stream resumes at
 * the same batch); --fresh starts over. Logs to runs/clip/log.jsonl, plots runs/clip/loss.png, and on completion
 * writes models/clip.safetensors (F16, OpenAI layout, config and tokenizer in the metadata).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CLIP_MEAN, CLIP_STD, clipConfigFromJson, clipFromSafetensors, initClip, saveClip, trainClip, type ClipTrainingBatch } from "@proj/clip";
import { cosineSchedule } from "@proj/tensor-kernels";
import { ClipTokenizer, trainBpe } from "@proj/tokenizer";
import { allCaptions, aliasNames, createEmojiDataset } from "@proj/training-data";
import { MODELS_DIR, abortOnSignals, appendLog, chooseBackend, progressBar, runPaths, writeAtomically, writeLossPlot } from "../src/run.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "4000" },
    "batch-size": { type: "string", default: "64" },
    chunk: { type: "string", default: "64" },
    lr: { type: "string", default: "5e-4" },
    vocab: { type: "string", default: "2048" },
    seed: { type: "string", default: "0" },
    every: { type: "string", default: "25" },
    backend: { type: "string" },
    fresh: { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
const batchSize = Number(values["batch-size"]);
const seed = Number(values.seed);
const IMAGE_SIZE = 32;

const backend = await chooseBackend(values.backend);
const paths = runPaths("clip");
if (values.fresh) for (const file of [paths.checkpoint, paths.log]) rmSync(file, { force: true });
const dataset = await createEmojiDataset({ split: "train" });

// 1. The vocabulary: learnt once from every caption the loader can produce, then reused (it sizes the model).
const vocabPath = join(paths.dir, "vocab.bpe");
if (values.fresh || !existsSync(vocabPath)) {
  const corpus = new Set<string>();
  for (const example of dataset.examples) {
    for (const caption of allCaptions(example.concept, example.skinTones)) corpus.add(caption);
    for (const alias of aliasNames(example.concept)) corpus.add(alias);
  }
  const vocabulary = trainBpe(corpus, { vocabSize: Number(values.vocab) });
  writeFileSync(vocabPath, ClipTokenizer.fromVocabulary(vocabulary).save("bpe").files["bpe_simple_vocab.txt"]);
  console.log(`vocabulary: ${Number(values.vocab)} tokens learnt from ${corpus.size} distinct captions → ${vocabPath}`);
}
const tokenizer = ClipTokenizer.fromFiles({ bpe: readFileSync(vocabPath, "utf8") });

// 2. The model: the reference constructor's arguments (so PyTorch's CLIP(**config) builds the same network).
const EMOJI_CLIP = clipConfigFromJson({
  embed_dim: 256,
  image_resolution: IMAGE_SIZE,
  vision_layers: 4,
  vision_width: 128,
  vision_patch_size: 4,
  context_length: 32,
  vocab_size: tokenizer.vocabSize,
  transformer_width: 128,
  transformer_heads: 2,
  transformer_layers: 4,
});
const model = clipFromSafetensors(initClip(EMOJI_CLIP, { seed }), { trainable: true, tokenizer });
const parameterCount = [...model.parameters!.values()].reduce((n, v) => n + v.size, 0);
console.log(`clip: ${parameterCount.toLocaleString()} parameters on ${backend}; ${dataset.examples.length} training images; batch ${batchSize} (chunks of ${values.chunk}), target ${steps} steps`);

// 3. Data: augmented emoji at 32×32, normalised as CLIP's preprocessing does; the stream restarts at any step.
function normalise(images: Float32Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = (images[i]! - CLIP_MEAN[i % 3]!) / CLIP_STD[i % 3]!;
  return out;
}
async function* batches(start: { step: number }): AsyncGenerator<ClipTrainingBatch> {
  for await (const batch of dataset.batches({ batchSize, seed, epochs: 1_000_000, dropLast: true, skipBatches: start.step, augment: true, size: IMAGE_SIZE })) {
    yield { images: normalise(batch.images), captions: batch.captions };
  }
}

// 4. Train.
const controller = abortOnSignals();
let bar: ReturnType<typeof progressBar> | undefined;
const result = await trainClip({
  model,
  batches,
  steps,
  learningRate: cosineSchedule({ warmupSteps: Math.min(200, Math.floor(steps / 10)), totalSteps: steps, peak: Number(values.lr), floor: Number(values.lr) / 20 }),
  chunkSize: Number(values.chunk),
  tokenize: (captions) => tokenizer.tokenize(captions, { contextLength: EMOJI_CLIP.contextLength, truncate: true }),
  seed,
  signal: controller.signal,
  checkpoint: { path: paths.checkpoint, every: Number(values.every) },
  onProgress: ({ step, loss, accuracy, learningRate, logitScale, stepsPerSecond }) => {
    appendLog(paths, { step, loss, accuracy, learningRate, logitScale });
    bar ??= progressBar("clip", steps, step - 1);
    bar.update(step, { loss: `${loss.toFixed(3)} acc ${(accuracy * 100).toFixed(0)}%`, rate: stepsPerSecond.toFixed(2) });
    if (step % Number(values.every) === 0) void writeLossPlot(paths, "clip");
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
await writeLossPlot(paths, "clip");
writeAtomically(join(MODELS_DIR, "clip.safetensors"), await saveClip(model, { dtype: "F16" }));
console.log(`done: ${result.step} steps; weights in models/clip.safetensors; loss plot ${paths.plot}`);
