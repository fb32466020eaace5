/**
 * The streaming loader: a split's images as seeded, shuffled, optionally augmented batches of plain typed arrays.
 *
 *   const data = await createEmojiDataset({ split: "train" });
 *   for await (const batch of data.batches({ batchSize: 256, seed: 1, epochs: 10, augment: true, size: 32 })) {
 *     batch.images;     // Float32Array [B, 32, 32, 3] in [0, 1]
 *     batch.captions;   // string[B]
 *     batch.conceptIds; // Int32Array [B]
 *   }
 *
 * Order: each epoch is a fresh permutation drawn from (seed, epoch); batches do not straddle epochs. Each example's
 * caption and augmentation come from (seed, epoch, example), so they do not depend on batch size, prefetch or
 * `skipBatches`. Same options ⇒ same batches, byte for byte.
 *
 * Decoded images (64×64 RGBA, 16 KiB each) are cached for the life of the process, shared by all datasets; the next
 * `prefetch` batches are read and decoded while the consumer works on the current one.
 */
import { readFile } from "node:fs/promises";
import {
  canFlipHorizontally,
  NO_AUGMENTATION,
  sampleAugmentation,
  type AugmentOptions,
} from "./augmentation.js";
import { canonicalCaption, sampleCaption } from "./captions.js";
import {
  imagePath,
  loadEmojiCatalog,
  SOURCE_IMAGE_SIZE,
  type EmojiCatalog,
  type EmojiConcept,
  type EmojiImageRef,
  type EmojiStyle,
} from "./emoji-metadata.js";
import { decodePngToRgba, renderImage, type RgbaImage } from "./image-ops.js";
import { createRandom, mixSeed, shuffledIndices } from "./random.js";
import { SPLITS, splitImages, type SplitName } from "./splits.js";

export interface EmojiDatasetOptions {
  split: SplitName;
  /** Keep only these styles (each must belong to the split), e.g. `["apple"]` to evaluate one style. */
  styles?: readonly EmojiStyle[];
  /** Include skin-tone variants (default true); false keeps one image per concept and style. */
  skinTones?: boolean;
  /** The catalogue to use (default: the installed emoji-datasource packages). */
  catalog?: EmojiCatalog;
}

/** One image of the dataset with its concept. */
export interface EmojiExample extends EmojiImageRef {
  concept: EmojiConcept;
  /** Whether `augment` may mirror it: `canFlipHorizontally(concept)` and not two different skin tones. */
  flippable: boolean;
}

export interface BatchOptions {
  batchSize: number;
  /** Seeds order, captions and augmentation (default 0). */
  seed?: number;
  /** Passes over the data (default 1; `Infinity` streams forever). */
  epochs?: number;
  /** Shuffle each epoch (default true); false keeps catalogue order. */
  shuffle?: boolean;
  /** Drop each epoch's last, smaller batch (default false). */
  dropLast?: boolean;
  /** Batches to skip at the start, e.g. to resume training at step k with the same stream (default 0). */
  skipBatches?: number;
  /** Flips/shifts/backgrounds (default false: evaluation). `true` = all with defaults. */
  augment?: boolean | AugmentOptions;
  /** "sampled": a seeded template/alias per example (default); "canonical": template 0 ("a grinning face"). */
  captions?: "sampled" | "canonical";
  /** Output side: 64 or a divisor of it (32, 16, …) by box averaging (default 64). */
  size?: number;
  /** "rgb" composited onto the background (default), or "rgba" with straight alpha. */
  format?: "rgb" | "rgba";
  /** Background RGB in [0, 1] when augmentation does not draw one (default white). */
  background?: readonly [number, number, number];
  /** Batches read and decoded ahead (default 2). */
  prefetch?: number;
  signal?: AbortSignal;
}

/** A batch as plain arrays; the consumer decides on tensors. */
export interface EmojiBatch {
  /** Row-major NHWC floats in [0, 1]: [B, size, size, 3] (rgb) or [B, size, size, 4] (rgba). */
  images: Float32Array;
  shape: readonly [number, number, number, number];
  captions: string[];
  /** `EmojiConcept.id` per example (ids are shared by every split and style). */
  conceptIds: Int32Array;
  styles: EmojiStyle[];
  /** Skin-tone modifiers per example (empty for the default tone). */
  skinTones: (readonly string[])[];
  /** Index of each example in `dataset.examples`. */
  exampleIndices: Int32Array;
  /** Whether each image was mirrored. */
  flipped: boolean[];
  epoch: number;
  /** Index of this batch in the whole stream (counting skipped batches). */
  step: number;
}

export interface EmojiDataset {
  split: SplitName;
  catalog: EmojiCatalog;
  examples: readonly EmojiExample[];
  /** Batches per epoch for a batch size. */
  batchesPerEpoch(batchSize: number, dropLast?: boolean): number;
  batches(options: BatchOptions): AsyncGenerator<EmojiBatch>;
  /** Decoded RGBA of one example (cached). */
  readImage(exampleIndex: number): Promise<RgbaImage>;
  /** Decodes every image now (otherwise each is decoded on first use). */
  preload(): Promise<void>;
}

const imageCache = new Map<string, Promise<RgbaImage>>();

/** Reads and decodes one PNG, once per process. */
export function loadRgbaImage(ref: EmojiImageRef): Promise<RgbaImage> {
  const path = imagePath(ref);
  let image = imageCache.get(path);
  if (image === undefined) {
    image = readFile(path).then((bytes) => decodePngToRgba(bytes));
    imageCache.set(path, image);
    image.catch(() => imageCache.delete(path));
  }
  return image;
}

export async function createEmojiDataset(options: EmojiDatasetOptions): Promise<EmojiDataset> {
  const { split } = options;
  const definition = SPLITS[split];
  if (definition === undefined) throw new Error(`createEmojiDataset: unknown split "${split}"`);
  for (const style of options.styles ?? []) {
    if (!definition.styles.includes(style)) {
      throw new Error(`createEmojiDataset: style "${style}" is not in split "${split}" (${definition.styles.join(", ")})`);
    }
  }
  const catalog = options.catalog ?? (await loadEmojiCatalog());
  const flippable = catalog.concepts.map(canFlipHorizontally);
  const examples: EmojiExample[] = splitImages(catalog, split)
    .filter((ref) => options.styles === undefined || options.styles.includes(ref.style))
    .filter((ref) => (options.skinTones ?? true) || ref.skinTones.length === 0)
    .map((ref) => {
      // Two different tones read left to right ("… dark skin tone and medium skin tone"): a mirror would swap them.
      const tonesInOrder = ref.skinTones.length === 2 && ref.skinTones[0] !== ref.skinTones[1];
      const canFlip = flippable[ref.conceptId]! && !tonesInOrder;
      return Object.freeze({ ...ref, concept: catalog.concepts[ref.conceptId]!, flippable: canFlip });
    });

  const batchesPerEpoch = (batchSize: number, dropLast = false) =>
    dropLast ? Math.floor(examples.length / batchSize) : Math.ceil(examples.length / batchSize);
  const readImage = (exampleIndex: number) => {
    const example = examples[exampleIndex];
    if (example === undefined) throw new RangeError(`readImage: no example ${exampleIndex} (of ${examples.length})`);
    return loadRgbaImage(example);
  };

  return {
    split,
    catalog,
    examples,
    batchesPerEpoch,
    readImage,
    async preload() {
      await Promise.all(examples.map((example) => loadRgbaImage(example)));
    },
    batches: (batchOptions) => streamBatches(examples, batchOptions),
  };
}

/** The (epoch, example indices) of every batch, lazily. */
function* batchPlan(count: number, options: BatchOptions): Generator<{ epoch: number; indices: Int32Array }> {
  const { batchSize, seed = 0, epochs = 1, shuffle = true, dropLast = false } = options;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffle ? shuffledIndices(count, createRandom(mixSeed(seed, epoch))) : identity(count);
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(count, start + batchSize);
      if (dropLast && end - start < batchSize) break;
      yield { epoch, indices: order.subarray(start, end) };
    }
  }
}

function identity(count: number): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  return order;
}

async function* streamBatches(examples: readonly EmojiExample[], options: BatchOptions): AsyncGenerator<EmojiBatch> {
  const { batchSize, seed = 0, skipBatches = 0, size = SOURCE_IMAGE_SIZE, format = "rgb", prefetch = 2 } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batches: batchSize must be a positive integer`);
  if (!Number.isInteger(size) || size < 1 || SOURCE_IMAGE_SIZE % size !== 0) {
    throw new Error(`batches: size must divide ${SOURCE_IMAGE_SIZE} (got ${size})`);
  }
  if (examples.length === 0) return;
  const augment: AugmentOptions | undefined =
    options.augment === true ? {} : options.augment === false ? undefined : options.augment;
  const captionMode = options.captions ?? "sampled";
  const renderOptions = { size, format, background: options.background ?? ([1, 1, 1] as const) };
  const channels = format === "rgb" ? 3 : 4;

  const plan = batchPlan(examples.length, options);
  let step = 0;
  for (; step < skipBatches; step++) if (plan.next().done) return;

  // Pending batches: their images are being read/decoded while earlier batches are consumed.
  const pending: { epoch: number; indices: Int32Array; images: Promise<RgbaImage[]> }[] = [];
  const fill = () => {
    while (pending.length <= prefetch) {
      const next = plan.next();
      if (next.done) return;
      const { epoch, indices } = next.value;
      const images = Promise.all(Array.from(indices, (index) => loadRgbaImage(examples[index]!)));
      images.catch(() => undefined); // surfaced when awaited below
      pending.push({ epoch, indices, images });
    }
  };

  fill();
  for (let item = pending.shift(); item !== undefined; item = pending.shift(), step++) {
    options.signal?.throwIfAborted();
    const sources = await item.images;
    fill();
    const { epoch, indices } = item;
    const count = indices.length;
    const images = new Float32Array(count * size * size * channels);
    const batch: EmojiBatch = {
      images,
      shape: [count, size, size, channels],
      captions: [],
      conceptIds: new Int32Array(count),
      styles: [],
      skinTones: [],
      exampleIndices: Int32Array.from(indices),
      flipped: [],
      epoch,
      step,
    };
    for (let i = 0; i < count; i++) {
      const example = examples[indices[i]!]!;
      const captionRandom = createRandom(mixSeed(seed, epoch, indices[i]!, 1));
      const augmentation =
        augment === undefined
          ? NO_AUGMENTATION
          : sampleAugmentation(augment, example.flippable, createRandom(mixSeed(seed, epoch, indices[i]!, 2)));
      renderImage(sources[i]!, augmentation, renderOptions, images, i * size * size * channels);
      batch.captions.push(
        captionMode === "canonical"
          ? canonicalCaption(example.concept, example.skinTones)
          : sampleCaption(example.concept, example.skinTones, captionRandom),
      );
      batch.conceptIds[i] = example.conceptId;
      batch.styles.push(example.style);
      batch.skinTones.push(example.skinTones);
      batch.flipped.push(augmentation.flip);
    }
    yield batch;
  }
}
