/**
 * The image-manipulation API of the mission, over swappable components (../shared/CONVENTIONS.md, rule 8):
 *
 *   variations   encode an image with CLIP, decode its embedding with fresh noise
 *   interpolate  decode slerps of two images' embeddings (e.g. 30% one, 70% the other), all from the same noise
 *   animate      a looping path of embeddings (or repeated variations) decoded frame by frame with shared noise
 *   textToImage  CLIP text embedding → prior → image embedding → decoder
 *   mix          a weighted blend of any number of images and texts (Kandinsky 2.2's "mixing")
 *
 * Components come in through narrow interfaces: any CLIP works as an `ImageEmbedder` (`clipEmbedder` adapts
 * `@proj/clip`'s model), the prior and the decoder are ours. Every call takes `seed`, `signal` and `onProgress`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { encodeImage, encodeTextTokens, preprocess, type ClipModel, type ImageInput } from "@proj/clip";
import { loadPipeline, type LoadedPipeline } from "./default-models.js";
import type { DiffusionPrior } from "./diffusion-prior.js";
import { RandomGenerator } from "./random.js";
import { normalizeEmbeddings, sample, samplePrior, throwIfAborted, type CommonSampleOptions, type SampleProgress } from "./sample.js";
import type { UNet } from "./unet.js";

/** CLIP text embeddings and, optionally, per-token features for priors/decoders conditioned on them. */
export interface TextEmbedding {
  embeddings: tf.Tensor2D; // [N, E]
  tokens?: tf.Tensor3D; // [N, T, D]
  mask?: tf.Tensor2D; // [N, T]
}

/** The CLIP a pipeline needs: image and text embeddings in one joint space of width `dim`. */
export interface ImageEmbedder {
  readonly dim: number;
  /** Width and count of the text token features `embedTexts` returns, when it returns them. */
  readonly textTokens?: { width: number; count: number };
  /** [N, dim], not necessarily normalised. */
  embedImages(images: readonly ImageInput[]): Promise<tf.Tensor2D>;
  embedTexts(texts: readonly string[]): Promise<TextEmbedding>;
}

/**
 * `@proj/clip`'s model as an `ImageEmbedder`: images preprocessed at the model's resolution; texts with their token
 * features (the text transformer after `ln_final`) and padding mask, for priors trained with text tokens.
 */
export function clipEmbedder(model: ClipModel): ImageEmbedder {
  return {
    dim: model.config.embedDim,
    textTokens: { width: model.config.transformerWidth, count: model.config.contextLength },
    async embedImages(images) {
      const pixels = await preprocess([...images], { size: model.config.imageResolution });
      try {
        return encodeImage(model, pixels);
      } finally {
        pixels.dispose();
      }
    },
    async embedTexts(texts) {
      const { features, tokens, mask } = await encodeTextTokens(model, [...texts]);
      return { embeddings: features, tokens, mask };
    },
  };
}

export interface Pipeline {
  readonly clip: ImageEmbedder;
  readonly prior: DiffusionPrior | undefined;
  readonly decoder: UNet;
  readonly upsampler: UNet | undefined;
}

/** The components of a pipeline: any CLIP (adapted with `clipEmbedder` when it is `@proj/clip`'s), our models. */
export interface PipelineComponents {
  clip: ImageEmbedder | ClipModel;
  prior?: DiffusionPrior;
  decoder: UNet;
  upsampler?: UNet;
}

/**
 * With no argument: loads the embedded default models (`loadPipeline()`; resolves to a pipeline that owns them, free
 * it with `dispose()`). With components: checks that they fit together (embedding widths, text tokens, upsampler
 * size) and bundles them (the caller keeps owning them).
 */
export function createPipeline(): Promise<LoadedPipeline>;
export function createPipeline(components: PipelineComponents): Pipeline;
export function createPipeline(components?: PipelineComponents): Pipeline | Promise<LoadedPipeline> {
  if (components === undefined) return loadPipeline();
  const clip = "embedImages" in components.clip ? components.clip : clipEmbedder(components.clip);
  const { prior, decoder, upsampler } = components;
  if (decoder.config.clipEmbedDim !== clip.dim) {
    throw new RangeError(`createPipeline: the decoder expects CLIP embeddings of width ${decoder.config.clipEmbedDim}, the CLIP makes ${clip.dim}`);
  }
  if (prior !== undefined && prior.config.clipEmbedDim !== clip.dim) {
    throw new RangeError(`createPipeline: the prior expects CLIP embeddings of width ${prior.config.clipEmbedDim}, the CLIP makes ${clip.dim}`);
  }
  for (const [name, model] of [["prior", prior?.config], ["decoder", decoder.config]] as const) {
    if (model === undefined || model.textTokenDim === 0) continue;
    const tokens = clip.textTokens;
    if (tokens === undefined) throw new RangeError(`createPipeline: the ${name} takes text token features, but the CLIP provides none`);
    if (tokens.width !== model.textTokenDim || tokens.count > model.maxTextTokens) {
      throw new RangeError(
        `createPipeline: the ${name} takes up to ${model.maxTextTokens} text tokens of width ${model.textTokenDim}, the CLIP gives ${tokens.count} of width ${tokens.width}`,
      );
    }
  }
  if (upsampler !== undefined && upsampler.config.lowResSize !== decoder.config.imageSize) {
    throw new RangeError(`createPipeline: the upsampler takes ${upsampler.config.lowResSize}×${upsampler.config.lowResSize} images, the decoder makes ${decoder.config.imageSize}×${decoder.config.imageSize}`);
  }
  return Object.freeze({ clip, prior, decoder, upsampler });
}

/** Options of every pipeline call that decodes images. */
export interface DecodeOptions extends CommonSampleOptions {
  /** Upsampler steps (default 10), when the pipeline has one. */
  upsamplerSteps?: number;
  /** Decode at most this many images per batch (default 8); `onImage` hears each batch as it is done. */
  batchSize?: number;
  /** Called with each finished image [1, H, W, 3] in [0, 1] (owned by the call: copy what you keep). */
  onImage?: (index: number, image: tf.Tensor4D) => void | Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------------
// Embedding maths

/**
 * Spherical linear interpolation of unit vectors (rows of [N, E] or [E] tensors; inputs are normalised first):
 *   slerp(a, b, t) = sin((1−t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b,   cos Ω = a·b
 * falling back to a normalised lerp where a ≈ ±b. t = 0 gives a, t = 1 gives b.
 */
export function slerp<T extends tf.Tensor1D | tf.Tensor2D>(a: T, b: T, t: number): T {
  if (!tf.util.arraysEqual(a.shape, b.shape)) throw new RangeError(`slerp: a [${a.shape.join(", ")}] and b [${b.shape.join(", ")}] differ in shape`);
  if (!Number.isFinite(t)) throw new RangeError(`slerp: t must be finite, got ${t}`);
  return tf.tidy(() => {
    const rows = (x: tf.Tensor): tf.Tensor2D => (x.rank === 1 ? tf.reshape(x, [1, -1]) : x) as tf.Tensor2D;
    const an = normalizeEmbeddings(rows(a));
    const bn = normalizeEmbeddings(rows(b));
    const cos = tf.clipByValue(tf.sum(tf.mul(an, bn), 1, true), -1, 1); // [N, 1]
    const omega = tf.acos(cos);
    const sin = tf.sin(omega);
    const nearlyParallel = tf.less(tf.abs(sin), 1e-6);
    const safeSin = tf.where(nearlyParallel, tf.onesLike(sin), sin);
    const wa = tf.where(nearlyParallel, tf.fill(sin.shape, 1 - t), tf.div(tf.sin(tf.mul(omega, 1 - t)), safeSin));
    const wb = tf.where(nearlyParallel, tf.fill(sin.shape, t), tf.div(tf.sin(tf.mul(omega, t)), safeSin));
    const out = normalizeEmbeddings(tf.add(tf.mul(an, wa), tf.mul(bn, wb)) as tf.Tensor2D);
    return (a.rank === 1 ? tf.reshape(out, [-1]) : out) as T;
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Decoding many embeddings

/**
 * Decodes [N, E] embeddings in batches: with `sharedNoise` every row starts from the same decoder noise and the same
 * upsampler noise (frames of a blend or an animation differ only by their embedding), else each row has its own.
 */
async function decodeAll(pipeline: Pipeline, embeddings: tf.Tensor2D, options: DecodeOptions, sharedNoise: boolean, what: string): Promise<tf.Tensor4D> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${what}: batchSize must be a positive integer, got ${batchSize}`);
  const c = pipeline.decoder.config;
  const n = embeddings.shape[0];
  const seed = options.seed ?? 0;
  const generator = sharedNoise ? new RandomGenerator(seed) : undefined;
  const noise = generator?.normal<tf.Rank.R4>([1, c.imageSize, c.imageSize, c.inChannels]);
  const u = pipeline.upsampler?.config;
  const upNoise = u === undefined ? undefined : generator?.normal<tf.Rank.R4>([1, u.imageSize, u.imageSize, u.inChannels]);
  const parts: tf.Tensor4D[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      throwIfAborted(options.signal, what);
      const count = Math.min(batchSize, n - start);
      const chunk = tf.slice(embeddings, [start, 0], [count, -1]);
      const chunkNoise = noise === undefined ? undefined : tf.tile(noise, [count, 1, 1, 1]);
      const chunkUpNoise = upNoise === undefined ? undefined : tf.tile(upNoise, [count, 1, 1, 1]);
      try {
        const images = await sample(pipeline.decoder, {
          ...options,
          imageEmbeddings: chunk,
          noise: chunkNoise,
          seed: sharedNoise ? seed : seed + start, // per-row noise: each batch its own stream
          upsampler: pipeline.upsampler,
          upsamplerSteps: options.upsamplerSteps,
          upsamplerNoise: chunkUpNoise,
        });
        parts.push(images);
        if (options.onImage !== undefined) {
          for (let i = 0; i < count; i++) {
            const one = tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]);
            try {
              await options.onImage(start + i, one);
            } finally {
              one.dispose();
            }
          }
        }
      } finally {
        chunk.dispose();
        chunkNoise?.dispose();
        chunkUpNoise?.dispose();
      }
    }
    return parts.length === 1 ? parts[0]! : tf.tidy(() => tf.concat(parts, 0));
  } finally {
    noise?.dispose();
    upNoise?.dispose();
    if (parts.length > 1) tf.dispose(parts);
  }
}

async function embedOne(pipeline: Pipeline, image: ImageInput, what: string): Promise<tf.Tensor2D> {
  if (image === undefined || image === null) throw new TypeError(`${what}: no image given`);
  return pipeline.clip.embedImages([image]);
}

// ---------------------------------------------------------------------------------------------------------------------
// The operations

export interface VariationsOptions extends DecodeOptions {
  /** Number of variations (default 4). */
  count?: number;
}

/** `count` decodes of the image's CLIP embedding, each from its own noise: [count, H, W, 3] in [0, 1]. */
export async function variations(pipeline: Pipeline, image: ImageInput, options: VariationsOptions = {}): Promise<tf.Tensor4D> {
  const what = "variations";
  const count = options.count ?? 4;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`${what}: count must be a positive integer, got ${count}`);
  const embedding = await embedOne(pipeline, image, what);
  const tiled = tf.tidy(() => tf.tile(embedding, [count, 1]));
  embedding.dispose();
  try {
    return await decodeAll(pipeline, tiled, options, false, what);
  } finally {
    tiled.dispose();
  }
}

export interface InterpolateOptions extends DecodeOptions {
  /** Weights of image B in [0, 1], one frame each (e.g. [0, 0.3, 0.7, 1]; default [0, 0.25, 0.5, 0.75, 1]). */
  weights?: readonly number[];
}

/** Frames decoded from slerp(embed(A), embed(B), w) for each weight, all from one noise: [weights, H, W, 3]. */
export async function interpolate(pipeline: Pipeline, imageA: ImageInput, imageB: ImageInput, options: InterpolateOptions = {}): Promise<tf.Tensor4D> {
  const what = "interpolate";
  const weights = options.weights ?? [0, 0.25, 0.5, 0.75, 1];
  if (weights.length === 0) throw new RangeError(`${what}: weights is empty`);
  const bad = weights.filter((w) => typeof w !== "number" || !(w >= 0 && w <= 1));
  if (bad.length > 0) throw new RangeError(`${what}: weights must lie in [0, 1], got ${bad.join(", ")}`);
  const embeddings = await pipeline.clip.embedImages([imageA, imageB]);
  const path = tf.tidy(() => {
    const [a, b] = tf.split(embeddings, 2, 0) as [tf.Tensor2D, tf.Tensor2D];
    return tf.concat(weights.map((w) => slerp(a, b, w)), 0) as tf.Tensor2D;
  });
  embeddings.dispose();
  try {
    return await decodeAll(pipeline, path, options, true, what);
  } finally {
    path.dispose();
  }
}

export interface AnimateOptions extends DecodeOptions {
  /** Number of frames (default 8). */
  frames?: number;
  /**
   * "loop": a closed path of embeddings decoded from one noise, so the last frame leads back into the first — through
   * the given images in order (slerp between neighbours, the last back to the first), or for one image a small circle
   * around its embedding. "drift": each frame is a variation of the previous one (the seed's repeated variations).
   */
  mode?: "loop" | "drift";
  /** Loop around one image: angular radius of the circle in radians (default 0.35). */
  radius?: number;
}

/** Frames [frames, H, W, 3] in [0, 1] of a looping or drifting animation (see `AnimateOptions.mode`). */
export async function animate(pipeline: Pipeline, images: ImageInput | readonly ImageInput[], options: AnimateOptions = {}): Promise<tf.Tensor4D> {
  const what = "animate";
  const list = Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
  if (list.length === 0) throw new RangeError(`${what}: no images given`);
  const frames = options.frames ?? 8;
  if (!Number.isInteger(frames) || frames < 2) throw new RangeError(`${what}: frames must be an integer ≥ 2, got ${frames}`);
  const mode = options.mode ?? "loop";
  if (mode !== "loop" && mode !== "drift") throw new RangeError(`${what}: mode must be "loop" or "drift", got ${JSON.stringify(mode)}`);
  if (mode === "drift") return drift(pipeline, list[0]!, frames, options);

  const raw = await pipeline.clip.embedImages(list);
  const embeddings = normalizeEmbeddings(raw);
  raw.dispose();
  const path = tf.tidy(() => {
    const k = list.length;
    if (k === 1) {
      // A circle of angular radius r around a: cos r · a + sin r · (cos θ · u + sin θ · v), u ⟂ v ⟂ a (seeded).
      const radius = options.radius ?? 0.35;
      const a = embeddings;
      const generator = new RandomGenerator((options.seed ?? 0) + 7919);
      const orthonormal = (x: tf.Tensor2D, against: tf.Tensor2D[]): tf.Tensor2D =>
        normalizeEmbeddings(against.reduce((y, b) => tf.sub(y, tf.mul(b, tf.sum(tf.mul(y, b), 1, true))) as tf.Tensor2D, x));
      const u = orthonormal(generator.normal<tf.Rank.R2>(a.shape), [a]);
      const v = orthonormal(generator.normal<tf.Rank.R2>(a.shape), [a, u]);
      return tf.concat(
        Array.from({ length: frames }, (_, f) => {
          const theta = (2 * Math.PI * f) / frames;
          return tf.add(tf.mul(a, Math.cos(radius)), tf.mul(tf.add(tf.mul(u, Math.cos(theta)), tf.mul(v, Math.sin(theta))), Math.sin(radius)));
        }),
        0,
      ) as tf.Tensor2D;
    }
    // Through the images and back: frame f at position f·k/frames along the closed polygon.
    return tf.concat(
      Array.from({ length: frames }, (_, f) => {
        const position = (f * k) / frames;
        const i = Math.floor(position);
        const a = tf.slice(embeddings, [i, 0], [1, -1]) as tf.Tensor2D;
        const b = tf.slice(embeddings, [(i + 1) % k, 0], [1, -1]) as tf.Tensor2D;
        return slerp(a, b, position - i);
      }),
      0,
    ) as tf.Tensor2D;
  });
  embeddings.dispose();
  try {
    return await decodeAll(pipeline, path, options, true, what);
  } finally {
    path.dispose();
  }
}

/** Each frame a variation of the previous frame, re-encoded with CLIP. */
async function drift(pipeline: Pipeline, image: ImageInput, frames: number, options: AnimateOptions): Promise<tf.Tensor4D> {
  const out: tf.Tensor4D[] = [];
  let current: ImageInput = image;
  const seed = options.seed ?? 0;
  try {
    for (let f = 0; f < frames; f++) {
      throwIfAborted(options.signal, "animate");
      const embedding = await embedOne(pipeline, current, "animate");
      try {
        const frame = await decodeAll(pipeline, embedding, { ...options, seed: seed + f, onImage: undefined }, false, "animate");
        out.push(frame);
        if (options.onImage !== undefined) await options.onImage(f, frame);
        current = await toPixels(frame);
      } finally {
        embedding.dispose();
      }
    }
    return tf.tidy(() => tf.concat(out, 0));
  } finally {
    tf.dispose(out);
  }
}

/** [1, H, W, 3] in [0, 1] → 8-bit RGB pixels for CLIP's preprocessing. */
async function toPixels(image: tf.Tensor4D): Promise<ImageInput> {
  const [, height, width] = image.shape;
  const bytes = tf.tidy(() => tf.cast(tf.round(tf.mul(image, 255)), "int32"));
  const data = Uint8Array.from(await bytes.data());
  bytes.dispose();
  return { data, width, height, channels: 3 };
}

export interface TextToImageOptions extends DecodeOptions {
  /** Images per prompt (default 1). */
  count?: number;
  /** The prior's guidance scale (default 1.5) and steps (default 25; `numInferenceSteps` is the decoder's). */
  priorGuidanceScale?: number;
  priorSteps?: number;
  /** Prior candidates per image, the best kept (default 2). */
  candidates?: number;
}

/** Prompt → CLIP text embedding → prior → image embeddings → decoder: [count, H, W, 3] in [0, 1]. */
export async function textToImage(pipeline: Pipeline, prompt: string, options: TextToImageOptions = {}): Promise<tf.Tensor4D> {
  const what = "textToImage";
  if (typeof prompt !== "string" || prompt.trim() === "") throw new TypeError(`${what}: the prompt is empty`);
  const count = options.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`${what}: count must be a positive integer, got ${count}`);
  const embeddings = await textEmbeddingsToImageEmbeddings(pipeline, new Array<string>(count).fill(prompt), options, what);
  try {
    return await decodeAll(pipeline, embeddings, options, false, what);
  } finally {
    embeddings.dispose();
  }
}

async function textEmbeddingsToImageEmbeddings(pipeline: Pipeline, texts: string[], options: TextToImageOptions, what: string): Promise<tf.Tensor2D> {
  if (pipeline.prior === undefined) throw new Error(`${what}: the pipeline has no prior (createPipeline({ prior }))`);
  throwIfAborted(options.signal, what);
  const text = await pipeline.clip.embedTexts(texts);
  const useTokens = pipeline.prior.config.textTokenDim > 0;
  if (useTokens && text.tokens === undefined) throw new Error(`${what}: the prior takes text token features, but the CLIP gave none`);
  try {
    return await samplePrior(pipeline.prior, {
      textEmbeddings: text.embeddings,
      textTokens: useTokens ? text.tokens : undefined,
      textMask: useTokens ? text.mask : undefined,
      numInferenceSteps: options.priorSteps ?? 25,
      guidanceScale: options.priorGuidanceScale ?? 1.5,
      candidates: options.candidates,
      seed: (options.seed ?? 0) + 104729,
      signal: options.signal,
      onProgress: options.onProgress,
    });
  } finally {
    tf.dispose([text.embeddings, text.tokens, text.mask].filter((t) => t !== undefined));
  }
}

/** One ingredient of `mix`: an image or a text (through the prior), with a weight ≥ 0. */
export type MixItem = { image: ImageInput; weight: number } | { text: string; weight: number };

export type MixOptions = TextToImageOptions;

/**
 * Decodes the weighted mean of the items' normalised image embeddings (texts mapped to image embeddings by the
 * prior), renormalised: [count, H, W, 3] in [0, 1], all from the same noise.
 */
export async function mix(pipeline: Pipeline, items: readonly MixItem[], options: MixOptions = {}): Promise<tf.Tensor4D> {
  const what = "mix";
  if (items.length === 0) throw new RangeError(`${what}: no items given`);
  const weights = items.map((item) => item.weight);
  const bad = weights.filter((w) => typeof w !== "number" || !Number.isFinite(w) || w < 0);
  if (bad.length > 0) throw new RangeError(`${what}: weights must be finite numbers ≥ 0, got ${bad.join(", ")}`);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new RangeError(`${what}: the weights sum to 0`);
  const count = options.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`${what}: count must be a positive integer, got ${count}`);

  const parts: tf.Tensor2D[] = [];
  try {
    for (const item of items) {
      throwIfAborted(options.signal, what);
      if ("image" in item) {
        const embedding = await embedOne(pipeline, item.image, what);
        parts.push(normalizeEmbeddings(embedding));
        embedding.dispose();
      }
      else if (typeof item.text === "string" && item.text.trim() !== "") parts.push(await textEmbeddingsToImageEmbeddings(pipeline, [item.text], options, what));
      else throw new TypeError(`${what}: an item needs an image or a non-empty text`);
    }
    const mixed = tf.tidy(() => {
      const sum = parts.reduce((acc, p, i) => tf.add(acc, tf.mul(p, weights[i]! / total)) as tf.Tensor2D, tf.zerosLike(parts[0]!));
      return tf.tile(normalizeEmbeddings(sum), [count, 1]);
    });
    try {
      return await decodeAll(pipeline, mixed, options, true, what);
    } finally {
      mixed.dispose();
    }
  } finally {
    tf.dispose(parts);
  }
}

export type { SampleProgress };
