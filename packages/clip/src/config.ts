/**
 * CLIP's architecture hyper-parameters: the keyword arguments of the reference constructor
 * `clip.model.CLIP(embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size, context_length,
 * vocab_size, transformer_width, transformer_heads, transformer_layers)` (github.com/openai/CLIP `clip/model.py`),
 * spelled in camelCase. `clipConfigFromJson` / `clipConfigToJson` convert from and to the snake_case JSON.
 */

export interface ClipConfig {
  /** Width of the joint image–text embedding (the output of `visual.proj`, `text_projection`, attnpool `c_proj`). */
  embedDim: number;
  /** Side of the square input image in pixels. */
  imageResolution: number;
  /** A number: ViT depth (resblocks). Four numbers: ModifiedResNet bottlenecks per stage. */
  visionLayers: number | readonly [number, number, number, number];
  /** ViT: token width. ModifiedResNet: base channel count (stage 1 has 4× this many output channels). */
  visionWidth: number;
  /** ViT: patch side in pixels. `null` for the ModifiedResNet. */
  visionPatchSize: number | null;
  /** Text tokens per row, start and end tokens included (77). */
  contextLength: number;
  /** Token embedding rows (49,408 for CLIP's BPE). */
  vocabSize: number;
  transformerWidth: number;
  transformerHeads: number;
  transformerLayers: number;
}

/** A ViT config (`visionLayers` a number, `visionPatchSize` set). */
export type VisionTransformerClipConfig = ClipConfig & { visionLayers: number; visionPatchSize: number };

/** The reference constructor's keyword arguments, as in `config.json` and `__metadata__.config`. */
export interface ClipConfigJson {
  embed_dim: number;
  image_resolution: number;
  vision_layers: number | number[];
  vision_width: number;
  vision_patch_size: number | null;
  context_length: number;
  vocab_size: number;
  transformer_width: number;
  transformer_heads: number;
  transformer_layers: number;
}

export function isVisionTransformerConfig(config: ClipConfig): config is VisionTransformerClipConfig {
  return typeof config.visionLayers === "number";
}

/** Attention heads of the image encoder, derived as the reference does: ViT `width // 64`, ResNet `width * 32 // 64`. */
export function visionHeads(config: ClipConfig): number {
  return isVisionTransformerConfig(config) ? Math.floor(config.visionWidth / 64) : Math.floor((config.visionWidth * 32) / 64);
}

const POSITIVE_INT_KEYS = [
  "embed_dim",
  "image_resolution",
  "vision_width",
  "context_length",
  "vocab_size",
  "transformer_width",
  "transformer_heads",
  "transformer_layers",
] as const;

const isPositiveInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;

/** Parses and checks the reference's keyword arguments (an object or its JSON text); names every bad field. */
export function clipConfigFromJson(json: unknown): ClipConfig {
  const value: unknown = typeof json === "string" ? JSON.parse(json) : json;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`CLIP config must be an object of the reference's keyword arguments, got ${JSON.stringify(value)}`);
  }
  const o = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of POSITIVE_INT_KEYS) {
    if (!isPositiveInt(o[key])) problems.push(`${key} must be a positive integer, got ${JSON.stringify(o[key])}`);
  }
  const layers = o.vision_layers;
  const patch = o.vision_patch_size;
  if (typeof layers === "number") {
    if (!isPositiveInt(layers)) problems.push(`vision_layers must be a positive integer, got ${layers}`);
    if (!isPositiveInt(patch)) problems.push(`vision_patch_size must be a positive integer for a ViT, got ${JSON.stringify(patch)}`);
  } else if (Array.isArray(layers)) {
    if (layers.length !== 4 || !layers.every(isPositiveInt)) {
      problems.push(`vision_layers must be 4 positive integers for a ModifiedResNet, got ${JSON.stringify(layers)}`);
    }
    if (patch !== null && patch !== undefined) problems.push(`vision_patch_size must be null for a ModifiedResNet, got ${JSON.stringify(patch)}`);
  } else {
    problems.push(`vision_layers must be a number (ViT) or 4 numbers (ModifiedResNet), got ${JSON.stringify(layers)}`);
  }
  if (problems.length > 0) throw new TypeError(`Invalid CLIP config: ${problems.join("; ")}`);
  return Object.freeze({
    embedDim: o.embed_dim as number,
    imageResolution: o.image_resolution as number,
    visionLayers: typeof layers === "number" ? layers : (Object.freeze([...(layers as number[])]) as unknown as [number, number, number, number]),
    visionWidth: o.vision_width as number,
    visionPatchSize: typeof layers === "number" ? (patch as number) : null,
    contextLength: o.context_length as number,
    vocabSize: o.vocab_size as number,
    transformerWidth: o.transformer_width as number,
    transformerHeads: o.transformer_heads as number,
    transformerLayers: o.transformer_layers as number,
  });
}

export function clipConfigToJson(config: ClipConfig): ClipConfigJson {
  return {
    embed_dim: config.embedDim,
    image_resolution: config.imageResolution,
    vision_layers: typeof config.visionLayers === "number" ? config.visionLayers : [...config.visionLayers],
    vision_width: config.visionWidth,
    vision_patch_size: config.visionPatchSize,
    context_length: config.contextLength,
    vocab_size: config.vocabSize,
    transformer_width: config.transformerWidth,
    transformer_heads: config.transformerHeads,
    transformer_layers: config.transformerLayers,
  };
}

/** Field names that differ between two configs (empty when equal). */
export function clipConfigDifferences(a: ClipConfig, b: ClipConfig): string[] {
  const ja = clipConfigToJson(a);
  const jb = clipConfigToJson(b);
  return (Object.keys(ja) as (keyof ClipConfigJson)[]).filter((k) => JSON.stringify(ja[k]) !== JSON.stringify(jb[k]));
}

// Published presets: the values `clip.model.build_model` derives from OpenAI's released checkpoints.
const TEXT = { contextLength: 77, vocabSize: 49408, transformerLayers: 12 } as const;
const preset = <T extends ClipConfig>(config: T): Readonly<T> => Object.freeze(config);

export const VIT_B_32 = preset({ ...TEXT, embedDim: 512, imageResolution: 224, visionLayers: 12, visionWidth: 768, visionPatchSize: 32, transformerWidth: 512, transformerHeads: 8 });
export const VIT_B_16 = preset({ ...TEXT, embedDim: 512, imageResolution: 224, visionLayers: 12, visionWidth: 768, visionPatchSize: 16, transformerWidth: 512, transformerHeads: 8 });
export const VIT_L_14 = preset({ ...TEXT, embedDim: 768, imageResolution: 224, visionLayers: 24, visionWidth: 1024, visionPatchSize: 14, transformerWidth: 768, transformerHeads: 12 });
export const VIT_L_14_336 = preset({ ...VIT_L_14, imageResolution: 336 });
export const RN50 = preset({ ...TEXT, embedDim: 1024, imageResolution: 224, visionLayers: Object.freeze([3, 4, 6, 3] as const), visionWidth: 64, visionPatchSize: null, transformerWidth: 512, transformerHeads: 8 });
export const RN101 = preset({ ...TEXT, embedDim: 512, imageResolution: 224, visionLayers: Object.freeze([3, 4, 23, 3] as const), visionWidth: 64, visionPatchSize: null, transformerWidth: 512, transformerHeads: 8 });
export const RN50x4 = preset({ ...TEXT, embedDim: 640, imageResolution: 288, visionLayers: Object.freeze([4, 6, 10, 6] as const), visionWidth: 80, visionPatchSize: null, transformerWidth: 640, transformerHeads: 10 });
export const RN50x16 = preset({ ...TEXT, embedDim: 768, imageResolution: 384, visionLayers: Object.freeze([6, 8, 18, 8] as const), visionWidth: 96, visionPatchSize: null, transformerWidth: 768, transformerHeads: 12 });
export const RN50x64 = preset({ ...TEXT, embedDim: 1024, imageResolution: 448, visionLayers: Object.freeze([3, 15, 36, 10] as const), visionWidth: 128, visionPatchSize: null, transformerWidth: 1024, transformerHeads: 16 });
