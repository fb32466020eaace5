/**
 * npm run train:clip [-- --steps 6000 --batch-size 64 --chunk 64 --lr 5e-4 --seed 0 --augment style|light
 *                       --backend native|wasm --fresh --init packages/clip/models/clip.safetensors]
 *
 * Trains the embedded default CLIP (EMOJI_CLIP below: a 32×32 ViT with 4×4 patches and a small text transformer
 * over our own BPE vocabulary) contrastively on the training split of the emoji data (Google, Twitter and Fluent,
 * augmented, captions sampled from several templates). The default --augment style adds zoom, tilt and
 * hue-preserving colour jitter (`STYLE_AUGMENTATION`) to the light augmentation (flips, shifts, backgrounds;
 * `--augment light`, what CLIP v0 was trained with) for held-out art styles; resume with the same --augment. The defaults are the shipped CLIP's
 * recipe. The vocabulary is learnt once from every training caption with `trainBpe` and kept in runs/clip/vocab.bpe;
 * it ships inside the model (`__metadata__.tokenizer_bpe`).
 *
 * `--init <file>` starts a new run from a CLIP model file's weights (same config and vocabulary), e.g. to train the
 * shipped CLIP further with a new learning-rate schedule.
 *
 * Resumable: Ctrl-C writes runs/clip/checkpoint.safetensors, running again continues (the data stream resumes at
 * the same batch); --fresh starts over. Logs to runs/clip/log.jsonl, plots runs/clip/loss.png, and on completion
 * writes packages/clip/models/clip.safetensors (F16, OpenAI layout, config and tokenizer in the metadata).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clipConfigFromJson, clipFromSafetensors, initClip, parseSafetensors, saveClip, trainClip } from "@proj/clip";
import { cosineSchedule } from "@proj/tensor-kernels";
import { ClipTokenizer, trainBpe } from "@proj/tokenizer";
import { STYLE_AUGMENTATION, allCaptions, aliasNames, createEmojiDataset, type AugmentOptions } from "@proj/training-data";
import { clipTrainingBatches } from "../src/clip-embedder.js";
import { MODEL_FILES, abortOnSignals, initialModelBytes, chooseBackend, parseTrainingArgs, progressReporter, runPaths, untilDoneOrStopped, writeAtomically, writeLossPlot } from "../src/run.js";

const args = parseTrainingArgs(
  { steps: 6000, batchSize: 64, learningRate: 5e-4, every: 25 },
  { chunk: { type: "string", default: "64" }, vocab: { type: "string", default: "2048" }, augment: { type: "string", default: "style" } },
);
const { steps, batchSize, seed } = args;
const values = args.values;
const IMAGE_SIZE = 32;
const AUGMENTATIONS: Record<string, AugmentOptions> = { light: {}, style: STYLE_AUGMENTATION };
const augment = AUGMENTATIONS[String(values.augment)];
if (augment === undefined) throw new RangeError(`--augment must be one of ${Object.keys(AUGMENTATIONS).join(", ")} (got ${String(values.augment)})`);

const backend = await chooseBackend(args.backend);
const paths = runPaths("clip");
if (args.fresh) for (const file of [paths.checkpoint, paths.log]) rmSync(file, { force: true });
const dataset = await createEmojiDataset({ split: "train" });

// 1. The vocabulary: learnt once from every caption the loader can produce, then reused (it sizes the model).
const vocabPath = join(paths.dir, "vocab.bpe");
if (args.fresh || !existsSync(vocabPath)) {
  const corpus = new Set<string>();
  for (const example of dataset.examples) {
    for (const caption of allCaptions(example.concept, example.skinTones)) corpus.add(caption);
    for (const alias of aliasNames(example.concept)) corpus.add(alias);
  }
  const vocabulary = trainBpe(corpus, { vocabSize: Number(values.vocab) });
  writeFileSync(vocabPath, ClipTokenizer.fromVocabulary(vocabulary).save("bpe").files["bpe_simple_vocab.txt"]);
  console.log(`vocabulary: ${Number(values.vocab)} tokens learnt from ${corpus.size} distinct captions → ${vocabPath}`);
}
const vocabularyText = readFileSync(vocabPath, "utf8");
const tokenizer = ClipTokenizer.fromFiles({ bpe: vocabularyText });

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
const init = initialModelBytes(paths, args.init, existsSync(paths.checkpoint)); // --fresh removed the checkpoint
const initFile = init === undefined ? undefined : parseSafetensors(init);
if (initFile !== undefined) {
  const { config, tokenizer_bpe: vocabulary } = initFile.metadata;
  let initConfig: ReturnType<typeof clipConfigFromJson> | undefined;
  try {
    initConfig = config === undefined ? undefined : clipConfigFromJson(JSON.parse(config));
  } catch (error) {
    throw new Error(`--init ${String(args.init)}: not a CLIP model file (${(error as Error).message})`);
  }
  if (JSON.stringify(initConfig) !== JSON.stringify(EMOJI_CLIP)) {
    throw new Error(`--init ${String(args.init)}: its config ${String(config)} is not this run's (EMOJI_CLIP in train-clip.ts)`);
  }
  if (vocabulary === undefined) throw new Error(`--init ${String(args.init)}: no BPE vocabulary in its metadata (tokenizer_bpe)`);
  if (vocabulary !== vocabularyText) throw new Error(`--init ${String(args.init)}: its BPE vocabulary differs from ${vocabPath}`);
}
const model = clipFromSafetensors(initFile ?? initClip(EMOJI_CLIP, { seed }), { trainable: true, tokenizer });
const parameterCount = [...model.parameters!.values()].reduce((n, v) => n + v.size, 0);
console.log(`clip: ${parameterCount.toLocaleString()} parameters on ${backend}${initFile ? ` from ${String(args.init)}` : ""}; ${dataset.examples.length} training images; batch ${batchSize} (chunks of ${values.chunk}), ${String(values.augment)} augmentation, target ${steps} steps`);

// 3. Data: augmented emoji at 32×32, normalised as CLIP's preprocessing does; the stream restarts at any step.
const batches = clipTrainingBatches(dataset, { batchSize, seed, augment, size: IMAGE_SIZE });

// 4. Train.
const reporter = progressReporter(paths, "clip", steps);
const result = await untilDoneOrStopped(
  paths,
  reporter,
  trainClip({
    model,
    batches,
    steps,
    learningRate: cosineSchedule({ warmupSteps: Math.min(200, Math.floor(steps / 10)), totalSteps: steps, peak: args.learningRate, floor: args.learningRate / 20 }),
    chunkSize: Number(values.chunk),
    tokenize: (captions) => tokenizer.tokenize(captions, { contextLength: EMOJI_CLIP.contextLength, truncate: true }),
    seed,
    signal: abortOnSignals().signal,
    checkpoint: { path: paths.checkpoint, every: args.every },
    onProgress: ({ step, loss, accuracy, learningRate, logitScale, stepsPerSecond }) => {
      reporter.report({ step, loss, accuracy, learningRate, logitScale, stepsPerSecond });
      if (step % args.every === 0) void writeLossPlot(paths, "clip");
    },
  }),
);
await writeLossPlot(paths, "clip");
writeAtomically(MODEL_FILES.clip, await saveClip(model, { dtype: "F16" }));
console.log(`done: ${result.step} steps; weights in packages/clip/models/clip.safetensors; loss plot ${paths.plot}`);
