/**
 * CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision"; reference
 * github.com/openai/CLIP `clip/model.py`): an image encoder and a text encoder into one embedding space, and the
 * learned temperature of their cosine similarity,
 *
 *   logits_per_image = exp(logit_scale) · normalize(encodeImage(x)) · normalize(encodeText(t))ᵀ
 *
 * `loadClip` reads a safetensors checkpoint in OpenAI's layout (either image encoder: ViT or ModifiedResNet) or in
 * Hugging Face `CLIPModel`'s layout (ViT only; converted to OpenAI's first, see checkpoint-layouts.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { ClipTokenizer } from "@proj/tokenizer";
import {
  clipConfigDifferences,
  clipConfigFromJson,
  clipConfigToJson,
  isVisionTransformerConfig,
  visionHeads,
  type ClipConfig,
} from "./config.js";
import { detectCheckpointLayout, fromHuggingFaceLayout } from "./checkpoint-layouts.js";
import { ModifiedResNet } from "./modified-resnet.js";
import { inferClipConfig } from "./config-inference.js";
import { readSafetensors, toFloat32, type SafetensorsFile } from "./safetensors.js";
import { disposeAll } from "./residual-attention-block.js";
import { TextTransformer } from "./text-transformer.js";
import { VisionTransformer } from "./vision-transformer.js";
import { CheckpointError, CheckpointWeights, takeAsVariables, type TakeWeight } from "./weights.js";

/** Where `ClipModel.config` came from: the file's `__metadata__.config`, `options.config`, or the tensor shapes. */
export type ClipConfigSource = "metadata" | "options" | "shapes";

export interface ClipModel {
  readonly config: Readonly<ClipConfig>;
  /** Where the config came from (`"shapes"`: inferred, text heads assumed to be width / 64 as the reference does). */
  readonly configSource: ClipConfigSource;
  /** Image encoder (checkpoint keys `visual.…`): a ViT, or a ModifiedResNet when `config.visionLayers` has 4 numbers. */
  readonly visual: VisionTransformer | ModifiedResNet;
  /** Text encoder (checkpoint keys `token_embedding`, `positional_embedding`, `transformer`, `ln_final`, `text_projection`). */
  readonly text: TextTransformer;
  /** exp(logit_scale): the checkpoint stores the log. (Trainable models read the variable, synchronously.) */
  readonly logitScale: number;
  /**
   * Only when loaded with `{ trainable: true }`: every weight as a trainable variable by checkpoint key (OpenAI
   * layout keys, model-layout values, `logit_scale` included). The components hold these same variables.
   */
  readonly parameters?: ReadonlyMap<string, tf.Variable>;
  /** The model's own tokenizer when it has one (see `LoadClipOptions.tokenizer`); else CLIP's is used. */
  readonly tokenizer?: ClipTokenizer | undefined;
  /** Releases every tensor of the model. */
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------------------------------
// Checkpoint layout

/**
 * The one list of checkpoint tensors whose layout differs from the one the model computes with, for both image
 * encoders and the text encoder: components receive every tensor already in the model layout and transpose nothing
 * themselves. Each is transformed once at load: `permutation[i]` is the checkpoint axis that becomes model axis i.
 * The keys of the two architectures do not conflict: `visual.conv1.weight` is a conv weight in both (the ViT's patch
 * embedding, the ResNet's first stem conv) and takes the same OIHW → HWIO. Everything else (embeddings, LayerNorms,
 * BatchNorms, biases, `visual.proj`, `text_projection`, `attnpool.positional_embedding`) is used as stored.
 */
export const CHECKPOINT_TRANSFORMS: readonly { readonly name: string; readonly keys: RegExp; readonly permutation: readonly number[] }[] =
  Object.freeze([
    {
      // nn.Linear: [out, in] → [in, out], as `linear` takes it. Transformer blocks (both towers, incl. the packed
      // q|k|v of nn.MultiheadAttention) and the ModifiedResNet's attention pool (separate q/k/v/c projections).
      name: "linear weight [out, in] → [in, out]",
      keys: /(^|\.)(attn\.in_proj_weight|attn\.out_proj\.weight|mlp\.c_fc\.weight|mlp\.c_proj\.weight)$|^visual\.attnpool\.[qkvc]_proj\.weight$/,
      permutation: [1, 0],
    },
    {
      // nn.Conv2d: OIHW → HWIO, as tf.conv2d takes it on NHWC images. ViT: the patch embedding `visual.conv1`.
      // ModifiedResNet: the stem `visual.conv1/2/3` and every bottleneck's `conv1/2/3` and `downsample.0`.
      name: "conv weight OIHW → HWIO",
      keys: /^visual\.(conv[123]|layer\d+\.\d+\.(conv[123]|downsample\.0))\.weight$/,
      permutation: [2, 3, 1, 0],
    },
  ]);

/** Wraps `take` so components receive tensors in the model layout, per `CHECKPOINT_TRANSFORMS`. */
export function takeInModelLayout(take: TakeWeight): TakeWeight {
  return (key, shape) => {
    const transform = CHECKPOINT_TRANSFORMS.find((t) => t.keys.test(key));
    if (transform === undefined) return take(key, shape);
    const { permutation } = transform;
    if (permutation.length !== shape.length) {
      throw new Error(`${key}: a component asked for a rank-${shape.length} tensor, but "${transform.name}" applies to rank ${permutation.length}`);
    }
    const checkpointShape = new Array<number>(shape.length);
    permutation.forEach((from, to) => (checkpointShape[from] = shape[to] ?? 0)); // model[to] = checkpoint[from]
    const stored = take(key, checkpointShape);
    const modelLayout = tf.transpose(stored, [...permutation]);
    stored.dispose();
    return modelLayout;
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Loading

export interface LoadClipOptions {
  /**
   * The architecture. When absent it comes from the checkpoint's `__metadata__.config`, else from its tensor shapes
   * (`inferClipConfig`: the reference loader's rules, text heads = width / 64). When given together with a stored
   * config, the two must agree. For a Hugging Face checkpoint, `clipConfigFromHuggingFace(configJson)` reads its
   * `config.json`.
   */
  config?: ClipConfig;
  /**
   * Load every weight as a trainable `tf.Variable` (ViT models only), listed in `model.parameters`, so that gradients
   * of the forward passes reach them (`tf.variableGrads`). Default false: plain tensors.
   */
  trainable?: boolean;
  /**
   * The tokenizer `encodeText` uses for strings. Default: the one stored in the checkpoint's
   * `__metadata__.tokenizer_bpe` (OpenAI merges-file text, as `saveClip` writes for models with their own
   * vocabulary), else CLIP's own (49,408 tokens). Its vocabulary size must equal the model's.
   */
  tokenizer?: ClipTokenizer;
}

/**
 * The embedded default model (models/clip.safetensors inside this package): a small ViT CLIP trained by
 * `npm run train:clip` on the emoji data (see models/MODEL_CARD.md). `loadClip()` with no source loads it.
 */
export const DEFAULT_CLIP_URL: URL = new URL("../models/clip.safetensors", moduleUrl());

/**
 * This module's URL, through a call so that bundlers (Vite) do not copy the weights into an app's assets as they do
 * for the literal `new URL("…", import.meta.url)` pattern: apps serve the model files themselves.
 */
function moduleUrl(): string {
  return import.meta.url;
}

/** Tokens of CLIP's own BPE vocabulary (the default tokenizer). */
const CLIP_VOCAB_SIZE = 49_408;

/** `__metadata__` key under which a model's own BPE vocabulary travels (OpenAI merges-file format). */
export const TOKENIZER_METADATA_KEY = "tokenizer_bpe";

function resolveTokenizer(file: SafetensorsFile, given: ClipTokenizer | undefined, config: ClipConfig): ClipTokenizer | undefined {
  const stored = file.metadata[TOKENIZER_METADATA_KEY];
  const tokenizer = given ?? (stored === undefined ? undefined : ClipTokenizer.fromFiles({ bpe: stored }));
  // Without a tokenizer of its own the model takes CLIP's for strings (checked in `encodeText`) or token ids.
  if (tokenizer !== undefined && tokenizer.vocabSize !== config.vocabSize) {
    const source = given !== undefined ? "options.tokenizer" : `__metadata__.${TOKENIZER_METADATA_KEY}`;
    throw new CheckpointError(`loadClip: ${source} has ${tokenizer.vocabSize} tokens but the model's token embedding has ${config.vocabSize} rows`);
  }
  return tokenizer;
}

export async function loadClip(
  source: string | URL | ArrayBuffer | Uint8Array | Blob = DEFAULT_CLIP_URL,
  options: LoadClipOptions = {},
): Promise<ClipModel> {
  const file = await readSafetensors(source).catch((error: unknown) => {
    if (source !== DEFAULT_CLIP_URL) throw error;
    throw new CheckpointError(
      `loadClip(): the embedded default model ${DEFAULT_CLIP_URL.href} could not be read (${(error as Error).message}). ` +
        "In a bundled web app, serve the file and pass its URL: loadClip(url).",
    );
  });
  return clipFromSafetensors(file, options);
}

/** `loadClip` over an already parsed file. */
export function clipFromSafetensors(file: SafetensorsFile, options: LoadClipOptions = {}): ClipModel {
  const openai = detectCheckpointLayout(file.tensors.keys()) === "huggingface" ? fromHuggingFaceLayout(file) : file;
  const { config, configSource } = resolveConfig(openai, options.config);
  const tokenizer = resolveTokenizer(file, options.tokenizer, config);
  const weights = new CheckpointWeights(openai, (key) => key.endsWith(".num_batches_tracked"));
  const parameters = options.trainable === true ? new Map<string, tf.Variable>() : undefined;
  if (parameters !== undefined && !isVisionTransformerConfig(config)) {
    throw new RangeError("clipFromSafetensors: { trainable: true } needs a ViT model (the ModifiedResNet folds its BatchNorms at load)");
  }
  const take = parameters === undefined ? takeInModelLayout(weights.take) : takeAsVariables(takeInModelLayout(weights.take), parameters);
  const visual = isVisionTransformerConfig(config)
    ? VisionTransformer.fromWeights(take, "visual", {
        inputResolution: config.imageResolution,
        patchSize: config.visionPatchSize,
        width: config.visionWidth,
        layers: config.visionLayers,
        heads: visionHeads(config),
        outputDim: config.embedDim,
      })
    : ModifiedResNet.fromWeights(take, {
        layers: [...(config.visionLayers as readonly [number, number, number, number])],
        width: config.visionWidth,
        outputDim: config.embedDim,
        heads: visionHeads(config),
        inputResolution: config.imageResolution,
      });
  const text = TextTransformer.fromWeights(take, "", {
    contextLength: config.contextLength,
    vocabSize: config.vocabSize,
    width: config.transformerWidth,
    layers: config.transformerLayers,
    heads: config.transformerHeads,
    outputDim: config.embedDim,
  });
  const logitScaleLog = take("logit_scale", []);
  if (parameters === undefined) logitScaleLog.dispose();
  // Read from the file, not the tensor: a synchronous download fails on WebGPU in Node and stalls browsers.
  const logitScaleStored = openai.tensors.get("logit_scale");
  const logitScale = Math.exp(logitScaleStored !== undefined && logitScaleStored.shape.length === 0 ? (toFloat32(logitScaleStored)[0] ?? 0) : 0);
  try {
    weights.finish();
  } catch (error) {
    visual.dispose();
    text.dispose();
    if (parameters !== undefined) logitScaleLog.dispose();
    throw error;
  }
  if (parameters !== undefined) {
    return Object.freeze({
      config,
      configSource,
      visual,
      text,
      get logitScale() {
        return Math.exp(logitScaleLog.dataSync()[0] ?? 0);
      },
      parameters,
      tokenizer,
      dispose() {
        visual.dispose();
        text.dispose();
        logitScaleLog.dispose();
      },
    });
  }
  return Object.freeze({
    config,
    configSource,
    visual,
    text,
    logitScale,
    tokenizer,
    dispose() {
      visual.dispose();
      text.dispose();
    },
  });
}

function resolveConfig(file: SafetensorsFile, explicit: ClipConfig | undefined): { config: ClipConfig; configSource: ClipConfigSource } {
  const stored = file.metadata.config;
  if (stored === undefined) {
    if (explicit === undefined) return { config: inferClipConfig(file), configSource: "shapes" };
    return { config: clipConfigFromJson(clipConfigToJson(explicit)), configSource: "options" }; // the same checks as a stored config
  }
  const fromMetadata = clipConfigFromJson(stored);
  if (explicit !== undefined) {
    const differences = clipConfigDifferences(fromMetadata, explicit);
    if (differences.length > 0) {
      throw new CheckpointError(`loadClip: options.config disagrees with the checkpoint's __metadata__.config on ${differences.join(", ")}`);
    }
  }
  return { config: fromMetadata, configSource: "metadata" };
}

// ---------------------------------------------------------------------------------------------------------------------
// Encoding

/** pixels: [N, R, R, 3] NHWC, preprocessed (`preprocess`) → image features [N, embedDim] (not normalised). */
export function encodeImage(model: ClipModel, pixels: tf.Tensor4D): tf.Tensor2D {
  return model.visual.forward(pixels);
}

let defaultTokenizer: Promise<ClipTokenizer> | undefined;

/**
 * ids: token rows (int32 tensor [N, T], or an Int32Array of N·T ids as `ClipTokenizer.tokenize` returns), or
 * strings, which are tokenized with CLIP's tokenizer (loaded once). → text features [N, embedDim] (not normalised).
 */
export async function encodeText(model: ClipModel, ids: tf.Tensor2D | Int32Array | readonly string[]): Promise<tf.Tensor2D> {
  if (ids instanceof tf.Tensor) return model.text.forward(ids);
  const idsTensor = await tokenRows(model, ids, "encodeText");
  try {
    return model.text.forward(idsTensor);
  } finally {
    idsTensor.dispose();
  }
}

/** Token rows [N, T] (int32) from strings (the model's tokenizer, else CLIP's) or flat ids. */
async function tokenRows(model: ClipModel, ids: Int32Array | readonly string[], what: string): Promise<tf.Tensor2D> {
  const contextLength = model.config.contextLength;
  let rows: Int32Array;
  if (ids instanceof Int32Array) {
    rows = ids;
  } else {
    if (model.tokenizer === undefined && model.config.vocabSize !== CLIP_VOCAB_SIZE) {
      throw new RangeError(
        `${what}: the model has its own ${model.config.vocabSize}-token vocabulary but no tokenizer: load it with { tokenizer } or pass token ids`,
      );
    }
    defaultTokenizer ??= ClipTokenizer.load();
    rows = (model.tokenizer ?? (await defaultTokenizer)).tokenize(ids, { contextLength });
  }
  if (rows.length % contextLength !== 0) {
    throw new RangeError(`${what}: ${rows.length} ids is not a whole number of rows of ${contextLength}`);
  }
  return tf.tensor2d(rows, [rows.length / contextLength, contextLength], "int32");
}

/** Text features with the per-token features the unCLIP prior and decoder can attend to. */
export interface TextEncoding {
  /** [N, embedDim] pooled and projected, as `encodeText` returns. */
  features: tf.Tensor2D;
  /** [N, T, transformerWidth] the text transformer's output after `ln_final` (GLIDE/unCLIP's text tokens). */
  tokens: tf.Tensor3D;
  /** [N, T] 1 for the tokens up to and including <|endoftext|>, 0 for the padding after it. */
  mask: tf.Tensor2D;
}

/** `encodeText` plus the token features and their padding mask (see `TextEncoding`); the caller disposes all three. */
export async function encodeTextTokens(model: ClipModel, ids: tf.Tensor2D | Int32Array | readonly string[]): Promise<TextEncoding> {
  const idsTensor = ids instanceof tf.Tensor ? ids : await tokenRows(model, ids, "encodeTextTokens");
  try {
    const { features, intermediates } = model.text.forwardWithIntermediates(idsTensor);
    const { ln_final: tokens, eotIndex, ...rest } = intermediates;
    const mask = tf.tidy(() => {
      const positions = tf.range(0, idsTensor.shape[1], 1, "int32"); // [T]
      return tf.cast(tf.lessEqual(tf.expandDims(positions, 0), tf.expandDims(eotIndex, 1)), "float32") as tf.Tensor2D; // [N, T]
    });
    eotIndex.dispose();
    disposeAll(rest);
    return { features, tokens, mask };
  } finally {
    if (idsTensor !== ids) idsTensor.dispose();
  }
}

/** exp(logit_scale) · cosine similarity: [N_images, embedDim] × [N_texts, embedDim] → logits per image [N_images, N_texts]. */
export function clipLogits(model: ClipModel, imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const normalize = (x: tf.Tensor2D): tf.Tensor2D => tf.div(x, tf.norm(x, 2, 1, true));
    return tf.mul(tf.matMul(normalize(imageFeatures), normalize(textFeatures), false, true), model.logitScale);
  });
}
