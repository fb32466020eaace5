/**
 * The unCLIP decoder U-Net (Ramesh et al. 2022 §2.1, on guided-diffusion's `UNetModel` / GLIDE's text-conditioned
 * variant), also used as the 2× upsampler (a config with `lowResChannels > 0`).
 *
 *   emb  = time_embed(sinusoid(t)) + clip_emb(z_i)                 [B, 4C]   z_i: CLIP image embedding (or the null one)
 *   ctx  = [clip_tok_proj(z_i) as clipTokens tokens | text_seq_proj(text features)]   [B, S, Dctx]
 *   h    = input_blocks(x_t ⊕ upsample(lowRes))   (ResBlocks conditioned on emb, AttentionBlocks attending to ctx,
 *          stride-2 conv downsampling), middle_block, output_blocks with the skip connections concatenated
 *   out  = out(h)                                                   [B, H, W, outChannels] — ε or v
 *
 * Classifier-free guidance: `null_image_embedding` [E] is a learned embedding that replaces z_i in the rows named by
 * `dropImageEmbedding` (10% of training rows, see `dropConditioning`; the unconditional half of a guided batch);
 * dropped text is masked out of the attention (`dropText`).
 *
 * Keys (guided-diffusion names): `time_embed.{0,2}`, `input_blocks.{i}.{j}`, `middle_block.{0,1,2}`,
 * `output_blocks.{i}.{j}`, `out.{0,2}`, plus unCLIP's `clip_emb`, `clip_tok_proj`, `null_image_embedding` and
 * `text_seq_proj.{0,1}` (Karlo's names for the same projections).
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseSafetensors, type SafetensorsFile } from "@proj/clip";
import { AttentionBlock, type AttentionContext } from "./attention-block.js";
import { assertDropLength, assertFinite, assertShape, replaceDropped, textKeyBias } from "./conditioning.js";
import { Conv2d, GroupNorm, LayerNorm, Linear } from "./layers.js";
import { loadModuleWeights, metadataJson, Module, ModuleCheckpointError, moduleToSafetensors, parameter, type SaveOptions } from "./module.js";
import { ResnetBlock } from "./resnet-block.js";
import { timestepEmbedding } from "./timestep-embedding.js";
import { unetConfigFromJson, validateUNetConfig, type UNetConfig } from "./unet-config.js";

/** Stride-2 3×3 conv (guided-diffusion `Downsample` with `use_conv`): key `op`. */
export class Downsample extends Module {
  readonly op: Conv2d;
  constructor(channels: number) {
    super();
    this.op = new Conv2d(channels, channels, { stride: 2 });
  }
  /** [B, H, W, C] → [B, H/2, W/2, C]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.op.forward(x);
  }
}

/** Nearest-neighbour 2× then 3×3 conv (guided-diffusion `Upsample` with `use_conv`): key `conv`. */
export class Upsample extends Module {
  readonly conv: Conv2d;
  constructor(channels: number) {
    super();
    this.conv = new Conv2d(channels, channels);
  }
  /** [B, H, W, C] → [B, 2H, 2W, C]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.conv.forward(upsampleNearest2x(x)));
  }
}

/**
 * Nearest-neighbour 2× upsampling with concat + reshape only (each pixel repeated along W, then each row repeated),
 * whose gradient is plain slicing. `tf.image.resizeNearestNeighbor`'s gradient disagrees between the cpu and wasm
 * backends of tfjs 4.22 (caught by unet.test.ts), so it is not used.
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, height, width, channels] = x.shape;
    const wide = tf.reshape(tf.concat([x, x], 3), [batch, height, 1, 2 * width * channels]); // each pixel twice along W
    return tf.reshape(tf.concat([wide, wide], 2), [batch, 2 * height, 2 * width, channels]); // each row twice
  });
}

type Layer = ResnetBlock | AttentionBlock | Downsample | Upsample | Conv2d;

export interface UNetInputs {
  /** [B, clipEmbedDim] CLIP image embeddings; required when the config has clipEmbedDim > 0. */
  imageEmbeddings?: tf.Tensor2D;
  /** Rows whose image embedding is replaced by the learned null embedding (classifier-free guidance). */
  dropImageEmbedding?: readonly boolean[];
  /** [B, T, textTokenDim] CLIP text token features (optional; absent = no text, as if dropped). */
  textTokens?: tf.Tensor3D;
  /** [B, T]: 1 for real tokens, 0 for padding (default: all real). */
  textMask?: tf.Tensor2D;
  /** Rows whose text is dropped (masked out of every attention). */
  dropText?: readonly boolean[];
  /** Upsampler: [B, lowResSize, lowResSize, lowResChannels], values on the same scale as x_t (e.g. [−1, 1]). */
  lowRes?: tf.Tensor4D;
  /** Check inputs for NaN/∞ (reads them back; default true). */
  checkFinite?: boolean;
}

export interface UNetOptions {
  /** Initialisation seed (default 0). */
  seed?: number;
}

/** `__metadata__.format` of our U-Net checkpoints. */
export const UNET_FORMAT = "proj-unclip-unet";

/**
 * Sampling settings a model was evaluated best with, kept in its checkpoint as `__metadata__.sampling` (JSON) and
 * used when a call does not say otherwise: `sample()` takes `guidanceScale` from here before its default of 3.
 */
export interface SamplingDefaults {
  guidanceScale?: number;
}

/** `__metadata__.sampling` checked: an object whose guidanceScale, when present, is a finite number ≥ 0. */
function samplingDefaultsFromJson(json: unknown, what: string): SamplingDefaults {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new ModuleCheckpointError(`${what}: __metadata__.sampling must be a JSON object`);
  const { guidanceScale } = json as { guidanceScale?: unknown };
  if (guidanceScale === undefined) return {};
  if (typeof guidanceScale !== "number" || !Number.isFinite(guidanceScale) || guidanceScale < 0) {
    throw new ModuleCheckpointError(`${what}: __metadata__.sampling.guidanceScale must be a finite number ≥ 0, got ${JSON.stringify(guidanceScale)}`);
  }
  return { guidanceScale };
}

export class UNet extends Module {
  readonly config: Readonly<UNetConfig>;
  /** From the checkpoint's `__metadata__.sampling` ({} when it has none); saved with the weights. */
  samplingDefaults: SamplingDefaults = {};
  readonly time_embed: [Linear, undefined, Linear];
  readonly clip_emb: Linear | undefined;
  readonly clip_tok_proj: Linear | undefined;
  readonly null_image_embedding: tf.Variable | undefined;
  readonly text_seq_proj: [Linear, LayerNorm] | undefined;
  readonly input_blocks: Layer[][];
  readonly middle_block: [ResnetBlock, AttentionBlock, ResnetBlock];
  readonly output_blocks: Layer[][];
  readonly out: [GroupNorm, undefined, Conv2d];

  constructor(config: UNetConfig, options: UNetOptions = {}) {
    super();
    const c = validateUNetConfig(config);
    this.config = c;
    const C = c.modelChannels;
    const embedDim = 4 * C;
    const E = c.clipEmbedDim;
    this.time_embed = [new Linear(C, embedDim), undefined, new Linear(embedDim, embedDim)];
    this.clip_emb = E > 0 ? new Linear(E, embedDim) : undefined;
    this.clip_tok_proj = E > 0 && c.clipTokens > 0 ? new Linear(E, c.clipTokens * c.contextDim) : undefined;
    this.null_image_embedding = E > 0 ? parameter([E], { kind: "normal", std: 1 / Math.sqrt(E) }) : undefined;
    this.text_seq_proj = c.textTokenDim > 0 ? [new Linear(c.textTokenDim, c.contextDim), new LayerNorm(c.contextDim)] : undefined;
    const contextDim = this.clip_tok_proj !== undefined || this.text_seq_proj !== undefined ? c.contextDim : 0;

    const resblock = (inChannels: number, outChannels: number) =>
      new ResnetBlock({ inChannels, outChannels, embedDim, groups: c.groups, useScaleShiftNorm: c.useScaleShiftNorm });
    const attn = (channels: number) => new AttentionBlock({ channels, headChannels: c.headChannels, groups: c.groups, contextDim });

    let ch = c.channelMult[0]! * C;
    this.input_blocks = [[new Conv2d(c.inChannels + c.lowResChannels, ch)]];
    const skipChannels = [ch];
    let size = c.imageSize;
    c.channelMult.forEach((mult, level) => {
      for (let i = 0; i < c.numResBlocks; i++) {
        const layers: Layer[] = [resblock(ch, mult * C)];
        ch = mult * C;
        if (c.attentionResolutions.includes(size)) layers.push(attn(ch));
        this.input_blocks.push(layers);
        skipChannels.push(ch);
      }
      if (level !== c.channelMult.length - 1) {
        this.input_blocks.push([new Downsample(ch)]);
        skipChannels.push(ch);
        size /= 2;
      }
    });
    this.middle_block = [resblock(ch, ch), attn(ch), resblock(ch, ch)];
    this.output_blocks = [];
    for (let level = c.channelMult.length - 1; level >= 0; level--) {
      const mult = c.channelMult[level]!;
      for (let i = 0; i <= c.numResBlocks; i++) {
        const layers: Layer[] = [resblock(ch + skipChannels.pop()!, mult * C)];
        ch = mult * C;
        if (c.attentionResolutions.includes(size)) layers.push(attn(ch));
        if (level > 0 && i === c.numResBlocks) {
          layers.push(new Upsample(ch));
          size *= 2;
        }
        this.output_blocks.push(layers);
      }
    }
    this.out = [new GroupNorm(c.groups, ch), undefined, new Conv2d(ch, c.outChannels, { zeroOutput: true })];
    this.initialise(options.seed ?? 0);
  }

  /**
   * Predicts ε (or v) for x_t at `timesteps`.
   * x: [B, imageSize, imageSize, inChannels] (an upsampler also takes crops, see `inputSize`); timesteps: [B]
   * (training-schedule steps, may be fractional). Returns [B, imageSize, imageSize, outChannels].
   */
  forward(x: tf.Tensor4D, timesteps: tf.Tensor1D | readonly number[], inputs: UNetInputs = {}): tf.Tensor4D {
    const c = this.config;
    this.checkInputs(x, timesteps, inputs);
    return tf.tidy(() => {
      const batch = x.shape[0];
      // 1. Timestep and image-embedding conditioning vector.
      let emb = this.time_embed[2].forward(this.time_embed[0].forward(timestepEmbedding(timesteps, c.modelChannels), "silu")); // [B, 4C]
      const contextTokens: tf.Tensor3D[] = [];
      const contextBias: tf.Tensor4D[] = [];
      if (this.clip_emb !== undefined) {
        const z = replaceDropped(inputs.imageEmbeddings!, this.null_image_embedding!, inputs.dropImageEmbedding); // [B, E]
        emb = tf.add(emb, this.clip_emb.forward(z));
        if (this.clip_tok_proj !== undefined) {
          contextTokens.push(tf.reshape(this.clip_tok_proj.forward(z), [batch, c.clipTokens, c.contextDim])); // [B, 4, Dctx]
          contextBias.push(tf.zeros([batch, 1, 1, c.clipTokens]));
        }
      }
      // 2. Text token features as further context tokens, masked where padded or dropped.
      if (this.text_seq_proj !== undefined && inputs.textTokens !== undefined) {
        const tokens = inputs.textTokens.shape[1];
        contextTokens.push(this.text_seq_proj[1].forward(this.text_seq_proj[0].forward(inputs.textTokens))); // [B, T, Dctx]
        contextBias.push(textKeyBias(batch, tokens, inputs.textMask, inputs.dropText));
      }
      const context: AttentionContext | undefined =
        contextTokens.length === 0
          ? undefined
          : {
              tokens: contextTokens.length === 1 ? contextTokens[0]! : (tf.concat(contextTokens, 1) as tf.Tensor3D),
              bias: contextBias.length === 1 ? contextBias[0]! : (tf.concat(contextBias, 3) as tf.Tensor4D),
            };
      // 3. Upsampler: the low-resolution image, bilinearly upsampled (PyTorch align_corners=False), on the channels.
      let h: tf.Tensor4D = x;
      if (c.lowResChannels > 0) {
        const up = tf.image.resizeBilinear(inputs.lowRes!, [x.shape[1], x.shape[2]], false, true);
        h = tf.concat([x, up], 3) as tf.Tensor4D; // [B, H, W, in + lowRes]
      }
      // 4. U-Net.
      const run = (layers: Layer[], input: tf.Tensor4D): tf.Tensor4D =>
        layers.reduce((t, layer) => {
          if (layer instanceof ResnetBlock) return layer.forward(t, emb as tf.Tensor2D);
          if (layer instanceof AttentionBlock) return layer.forward(t, context);
          return layer.forward(t);
        }, input);
      const skips: tf.Tensor4D[] = [];
      for (const layers of this.input_blocks) {
        h = run(layers, h);
        skips.push(h);
      }
      h = run(this.middle_block, h);
      for (const layers of this.output_blocks) h = run(layers, tf.concat([h, skips.pop()!], 3) as tf.Tensor4D);
      return this.out[2].forward(this.out[0].forward(h, "silu")); // [B, H, W, outChannels]
    });
  }

  /**
   * The side of x this model takes: imageSize for a decoder; for an upsampler also a square crop (training on crops,
   * as unCLIP's upsamplers) whose side the levels divide and whose low-resolution side is whole.
   */
  private inputSize(x: tf.Tensor4D): number {
    const c = this.config;
    const side = x.shape[1];
    if (c.lowResChannels === 0 || x.rank !== 4 || side === c.imageSize || x.shape[2] !== side) return c.imageSize;
    const levels = 2 ** (c.channelMult.length - 1);
    const fits = side > 0 && side < c.imageSize && side % levels === 0 && (side * c.lowResSize) % c.imageSize === 0;
    if (!fits) {
      throw new RangeError(
        `UNet.forward: x must be ${c.imageSize}×${c.imageSize} or a square crop whose side is a multiple of ${levels} and of ${c.imageSize / c.lowResSize} (the upsampling factor), got [${x.shape.join(", ")}]`,
      );
    }
    return side;
  }

  private checkInputs(x: tf.Tensor4D, timesteps: tf.Tensor1D | readonly number[], inputs: UNetInputs): void {
    const c = this.config;
    const what = "UNet.forward";
    if (!(x instanceof tf.Tensor)) throw new TypeError(`${what}: x must be a tensor`);
    const size = this.inputSize(x);
    assertShape(`${what}: x`, x, [-1, size, size, c.inChannels], `([B, imageSize, imageSize, inChannels] for this ${c.imageSize}×${c.imageSize} model)`);
    const batch = x.shape[0];
    const steps = timesteps instanceof tf.Tensor ? timesteps.shape : [timesteps.length];
    if (steps.length !== 1 || steps[0] !== batch) throw new RangeError(`${what}: timesteps must have shape [${batch}] (one per image), got [${steps.join(", ")}]`);
    const checkFinite = inputs.checkFinite ?? true;
    if (c.clipEmbedDim > 0) {
      if (inputs.imageEmbeddings === undefined) {
        throw new RangeError(`${what}: imageEmbeddings [B, ${c.clipEmbedDim}] are required (use dropImageEmbedding for the unconditional rows)`);
      }
      assertShape(`${what}: imageEmbeddings`, inputs.imageEmbeddings, [batch, c.clipEmbedDim], `([B, clipEmbedDim]: this model takes CLIP embeddings of width ${c.clipEmbedDim})`);
      assertDropLength(`${what}: dropImageEmbedding`, inputs.dropImageEmbedding, batch);
      if (checkFinite) assertFinite(`${what}: imageEmbeddings`, inputs.imageEmbeddings);
    } else if (inputs.imageEmbeddings !== undefined) {
      throw new RangeError(`${what}: this model is not conditioned on CLIP image embeddings (clipEmbedDim = 0)`);
    }
    if (inputs.textTokens !== undefined) {
      if (c.textTokenDim === 0) throw new RangeError(`${what}: this model is not conditioned on text (textTokenDim = 0)`);
      assertShape(`${what}: textTokens`, inputs.textTokens, [batch, -1, c.textTokenDim], `([B, T, textTokenDim = ${c.textTokenDim}])`);
      const tokens = inputs.textTokens.shape[1];
      if (tokens === 0 || tokens > c.maxTextTokens) throw new RangeError(`${what}: textTokens must have 1…${c.maxTextTokens} tokens, got ${tokens}`);
      if (inputs.textMask !== undefined) assertShape(`${what}: textMask`, inputs.textMask, [batch, tokens], "([B, T], 1 = token, 0 = padding)");
      assertDropLength(`${what}: dropText`, inputs.dropText, batch);
      if (checkFinite) assertFinite(`${what}: textTokens`, inputs.textTokens);
    }
    if (c.lowResChannels > 0) {
      if (inputs.lowRes === undefined) throw new RangeError(`${what}: this upsampler needs lowRes [B, ${c.lowResSize}, ${c.lowResSize}, ${c.lowResChannels}]`);
      const lowSize = (size * c.lowResSize) / c.imageSize;
      assertShape(`${what}: lowRes`, inputs.lowRes, [batch, lowSize, lowSize, c.lowResChannels], `(the ${lowSize}×${lowSize} conditioning image of a ${size}×${size} x)`);
      if (checkFinite) assertFinite(`${what}: lowRes`, inputs.lowRes);
    } else if (inputs.lowRes !== undefined) {
      throw new RangeError(`${what}: this model is not an upsampler (lowResChannels = 0)`);
    }
    if (checkFinite) {
      assertFinite(`${what}: x`, x);
      if (timesteps instanceof tf.Tensor) assertFinite(`${what}: timesteps`, timesteps);
      else if (!timesteps.every(Number.isFinite)) throw new RangeError(`${what}: timesteps contain a non-finite value`);
    }
  }

  /** The weights as safetensors with `__metadata__` { format, config (JSON), sampling (JSON, when set) }. */
  toSafetensors(options: SaveOptions = {}): Uint8Array {
    const sampling: Record<string, string> = Object.keys(this.samplingDefaults).length > 0 ? { sampling: JSON.stringify(this.samplingDefaults) } : {};
    return moduleToSafetensors(this, { ...options, metadata: { ...options.metadata, ...sampling, format: UNET_FORMAT, config: JSON.stringify(this.config) } });
  }

  /** A U-Net built from a checkpoint's `__metadata__.config` and loaded with its weights (all keys/shapes checked). */
  static fromSafetensors(data: Uint8Array | SafetensorsFile): UNet {
    const file = data instanceof Uint8Array ? parseSafetensors(data) : data;
    if (file.metadata.format !== undefined && file.metadata.format !== UNET_FORMAT) {
      throw new ModuleCheckpointError(`UNet.fromSafetensors: the checkpoint's format is "${file.metadata.format}", not "${UNET_FORMAT}"`);
    }
    const sampling = file.metadata.sampling === undefined ? {} : samplingDefaultsFromJson(metadataJson(file, "sampling", "UNet.fromSafetensors"), "UNet.fromSafetensors");
    const unet = new UNet(unetConfigFromJson(metadataJson(file, "config", "UNet.fromSafetensors")));
    unet.samplingDefaults = sampling;
    try {
      loadModuleWeights(unet, file);
    } catch (error) {
      unet.dispose();
      throw error;
    }
    return unet;
  }
}
