import { describe, expect, it } from "vitest";
import * as api from "./index.js";

// Pins the public surface: adding or removing an export must update this list.
const EXPORTED = [
  // catalogue
  "DATASOURCE_STYLES",
  "EMOJI_STYLES",
  "EXCLUDED_CATEGORIES",
  "FLUENT_EXCLUDED_SUBCATEGORIES",
  "FLUENT_PACKAGE",
  "buildCatalog",
  "fluentImageName",
  "imagePath",
  "listFluentImages",
  "loadEmojiCatalog",
  "readEmojiRecords",
  "styleImageDirectory",
  // splits
  "EVALUATION_STYLES",
  "HELD_OUT_PER_MILLE",
  "SPLITS",
  "SPLIT_NAMES",
  "TRAINING_STYLES",
  "heldOutConcepts",
  "inSplit",
  "isHeldOutConcept",
  "splitCounts",
  "splitImages",
  // captions
  "ALIAS_PROBABILITY",
  "ALIAS_TEMPLATES",
  "CAPTION_TEMPLATES",
  "CATEGORY_PHRASES",
  "SKIN_TONE_NAMES",
  "SUBCATEGORY_PHRASES",
  "aliasNames",
  "allCaptions",
  "canonicalCaption",
  "captionFromTemplate",
  "captionParts",
  "naturalName",
  "sampleCaption",
  "skinTonePhrase",
  "withArticle",
  // augmentation
  "BACKGROUND_KINDS",
  "NO_AUGMENTATION",
  "NO_FLIP_CATEGORIES",
  "STYLE_AUGMENTATION",
  "canFlipHorizontally",
  "sampleAugmentation",
  // loading
  "SOURCE_IMAGE_SIZE",
  "streamBatches",
  "createEmojiDataset",
  "loadRgbaImage",
  // pixels and randomness
  "decodeImageToRgba",
  "decodePngToRgba",
  "encodePng8",
  "renderImage",
  "createRandom",
  "mixSeed",
  "randomInt",
  "shuffledIndices",
  "stableHash",
  // clip art
  "CLIPART_CACHE_DIRECTORY",
  "CLIPART_IMAGE_SIZE",
  "CLIPART_MAX_PER_NAME",
  "CLIPART_SERIES_MIN",
  "CLIPART_TEMPLATES",
  "CLIPART_VALIDATION_PERCENT",
  "OPENCLIPART_DIRECTORY",
  "clipartKeywords",
  "clipartName",
  "clipartSplit",
  "createClipartDataset",
  "decodeSvgBytes",
  "nameFromFileName",
  "parseClipartMetadata",
  "rasterizeSvg",
  "readClipartCacheIndex",
  "sampleClipartCaption",
  "withSvgNamespace",
];

describe("@proj/training-data public surface", () => {
  it("exports exactly the documented names", () => {
    expect(Object.keys(api).sort()).toEqual([...EXPORTED].sort());
    for (const name of EXPORTED) expect(api[name as keyof typeof api], name).toBeDefined();
  });
});
