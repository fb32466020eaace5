/**
 * Seeded, shuffled, optionally augmented batches of plain typed arrays over any list of captioned images (the emoji
 * and clip-art datasets both stream through here).
 *
 * Order: each epoch is a fresh permutation drawn from (seed, epoch); batches do not straddle epochs. Each example's
 * caption and augmentation come from (seed, epoch, example), so they do not depend on batch size, prefetch or
 * `skipBatches`. Same options ⇒ same batches, byte for byte. The next `prefetch` batches are loaded while the
 * consumer works on the current one.
 */
import { NO_AUGMENTATION, sampleAugmentation, type AugmentOptions } from "./augmentation.js";
import { renderImage, type RgbaImage } from "./image-ops.js";
import { createRandom, mixSeed, shuffledIndices, type Random } from "./random.js";

/** Source images are square with this side; output sizes must divide it. */
export const SOURCE_IMAGE_SIZE = 64;

export type CaptionMode = "sampled" | "canonical";

/** What the stream needs to know of one example. */
export interface BatchExample {
  conceptId: number;
  style: string;
  /** Skin-tone modifiers (emoji), or empty. */
  skinTones: readonly string[];
  /** Whether augmentation may mirror it. */
  flippable: boolean;
}

/** A list of examples with a way to load each image and caption it. */
export interface BatchSource<Example extends BatchExample> {
  examples: readonly Example[];
  /** 64×64 RGBA (cached by the source). */
  loadImage(example: Example): Promise<RgbaImage>;
  /** A caption; `random` is seeded by (seed, epoch, example) and only used for "sampled". */
  caption(example: Example, mode: CaptionMode, random: Random): string;
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
  /** "sampled": a seeded template/alias per example (default); "canonical": one fixed caption ("a grinning face"). */
  captions?: CaptionMode;
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
export interface ImageCaptionBatch<Style extends string = string> {
  /** Row-major NHWC floats in [0, 1]: [B, size, size, 3] (rgb) or [B, size, size, 4] (rgba). */
  images: Float32Array;
  shape: readonly [number, number, number, number];
  captions: string[];
  /** Concept id per example (for emoji: `EmojiConcept.id`, shared by every split and style). */
  conceptIds: Int32Array;
  styles: Style[];
  /** Skin-tone modifiers per example (empty for the default tone). */
  skinTones: (readonly string[])[];
  /** Index of each example in the source's `examples`. */
  exampleIndices: Int32Array;
  /** Whether each image was mirrored. */
  flipped: boolean[];
  epoch: number;
  /** Index of this batch in the whole stream (counting skipped batches). */
  step: number;
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

export async function* streamBatches<Example extends BatchExample>(
  source: BatchSource<Example>,
  options: BatchOptions,
): AsyncGenerator<ImageCaptionBatch<Example["style"]>> {
  const { examples } = source;
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
      const images = Promise.all(Array.from(indices, (index) => source.loadImage(examples[index]!)));
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
    const batch: ImageCaptionBatch<Example["style"]> = {
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
      batch.captions.push(source.caption(example, captionMode, captionRandom));
      batch.conceptIds[i] = example.conceptId;
      batch.styles.push(example.style);
      batch.skinTones.push(example.skinTones);
      batch.flipped.push(augmentation.flip);
    }
    yield batch;
  }
}
