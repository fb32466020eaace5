// @proj/training-data: image–caption training data (private workspace; never a runtime dependency of a library).

// Catalogue of the emoji-datasource packages (and the Fluent Emoji 3D images)
export {
  DATASOURCE_STYLES,
  EMOJI_STYLES,
  EXCLUDED_CATEGORIES,
  FLUENT_EXCLUDED_SUBCATEGORIES,
  FLUENT_PACKAGE,
  buildCatalog,
  fluentImageName,
  imagePath,
  listFluentImages,
  loadEmojiCatalog,
  readEmojiRecords,
  styleImageDirectory,
} from "./emoji-metadata.js";
export type {
  BuildCatalogOptions,
  EmojiCatalog,
  EmojiConcept,
  EmojiImageFlags,
  EmojiImageRef,
  EmojiRecord,
  EmojiStyle,
} from "./emoji-metadata.js";

// Splits
export {
  EVALUATION_STYLES,
  HELD_OUT_PER_MILLE,
  SPLITS,
  SPLIT_NAMES,
  TRAINING_STYLES,
  heldOutConcepts,
  inSplit,
  isHeldOutConcept,
  splitCounts,
  splitImages,
} from "./splits.js";
export type { SplitCounts, SplitDefinition, SplitName } from "./splits.js";

// Captions
export {
  ALIAS_PROBABILITY,
  ALIAS_TEMPLATES,
  CAPTION_TEMPLATES,
  CATEGORY_PHRASES,
  SKIN_TONE_NAMES,
  SUBCATEGORY_PHRASES,
  aliasNames,
  allCaptions,
  canonicalCaption,
  captionFromTemplate,
  captionParts,
  naturalName,
  sampleCaption,
  skinTonePhrase,
  withArticle,
} from "./captions.js";
export type { CaptionParts } from "./captions.js";

// Augmentation
export {
  BACKGROUND_KINDS,
  NO_AUGMENTATION,
  NO_FLIP_CATEGORIES,
  STYLE_AUGMENTATION,
  canFlipHorizontally,
  sampleAugmentation,
} from "./augmentation.js";
export type { AugmentOptions, Augmentation, BackgroundKind, ColourJitter } from "./augmentation.js";

// Loading
export { SOURCE_IMAGE_SIZE, streamBatches } from "./batch-stream.js";
export type { BatchExample, BatchOptions, BatchSource, CaptionMode, ImageCaptionBatch } from "./batch-stream.js";
export { createEmojiDataset, loadRgbaImage } from "./emoji-dataset.js";
export type { EmojiBatch, EmojiDataset, EmojiDatasetOptions, EmojiExample } from "./emoji-dataset.js";

// Pixels and randomness
export { decodeImageToRgba, decodePngToRgba, encodePng8, renderImage } from "./image-ops.js";
export type { RenderOptions, RgbaImage } from "./image-ops.js";
export { createRandom, mixSeed, randomInt, shuffledIndices, stableHash } from "./random.js";
export type { Random } from "./random.js";

// Optional clip art (Debian openclipart-svg, rasterised once by scripts/rasterize-openclipart.ts)
export {
  CLIPART_CACHE_DIRECTORY,
  CLIPART_IMAGE_SIZE,
  CLIPART_MAX_PER_NAME,
  CLIPART_SERIES_MIN,
  CLIPART_TEMPLATES,
  CLIPART_VALIDATION_PERCENT,
  OPENCLIPART_DIRECTORY,
  clipartKeywords,
  clipartName,
  clipartSplit,
  createClipartDataset,
  decodeSvgBytes,
  nameFromFileName,
  parseClipartMetadata,
  rasterizeSvg,
  readClipartCacheIndex,
  sampleClipartCaption,
  withSvgNamespace,
} from "./openclipart.js";
export type {
  ClipartCacheIndex,
  ClipartDataset,
  ClipartExample,
  ClipartItem,
  ClipartMetadata,
  ClipartSplitName,
} from "./openclipart.js";
