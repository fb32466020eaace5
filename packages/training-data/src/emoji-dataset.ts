/**
 * The emoji datasets: a split's images with their concepts, streamed as batches by `batch-stream.ts`.
 *
 *   const data = await createEmojiDataset({ split: "train" });
 *   for await (const batch of data.batches({ batchSize: 256, seed: 1, epochs: 10, augment: true, size: 32 })) {
 *     batch.images;     // Float32Array [B, 32, 32, 3] in [0, 1]
 *     batch.captions;   // string[B]
 *     batch.conceptIds; // Int32Array [B]
 *   }
 *
 * Decoded images (64×64 RGBA, 16 KiB each) are cached for the life of the process, shared by all datasets.
 */
import { readFile } from "node:fs/promises";
import { canFlipHorizontally } from "./augmentation.js";
import {
  SOURCE_IMAGE_SIZE,
  streamBatches,
  type BatchOptions,
  type CaptionMode,
  type ImageCaptionBatch,
} from "./batch-stream.js";
import { canonicalCaption, sampleCaption } from "./captions.js";
import {
  imagePath,
  loadEmojiCatalog,
  type EmojiCatalog,
  type EmojiConcept,
  type EmojiImageRef,
  type EmojiStyle,
} from "./emoji-metadata.js";
import { decodeImageToRgba, decodePngToRgba, type RgbaImage } from "./image-ops.js";
import type { Random } from "./random.js";
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

/** A batch of emoji. */
export type EmojiBatch = ImageCaptionBatch<EmojiStyle>;

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

/** Reads and decodes one image, once per process: 64×64 RGBA for every style (the Fluent 256×256 WebPs are shrunk). */
export function loadRgbaImage(ref: EmojiImageRef): Promise<RgbaImage> {
  const path = imagePath(ref);
  let image = imageCache.get(path);
  if (image === undefined) {
    image = readFile(path).then((bytes) =>
      ref.style === "fluent" ? decodeImageToRgba(bytes, SOURCE_IMAGE_SIZE) : decodePngToRgba(bytes),
    );
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
    batches: (batchOptions) =>
      streamBatches<EmojiExample>({ examples, loadImage: loadRgbaImage, caption: captionEmoji }, batchOptions),
  };
}

function captionEmoji(example: EmojiExample, mode: CaptionMode, random: Random): string {
  return mode === "canonical"
    ? canonicalCaption(example.concept, example.skinTones)
    : sampleCaption(example.concept, example.skinTones, random);
}
