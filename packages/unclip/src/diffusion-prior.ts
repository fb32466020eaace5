/**
 * The unCLIP diffusion prior (Ramesh et al. 2022 §2.2): a decoder-only (causal) transformer over
 *
 *   [ text token features (optional, T ≤ maxTextTokens) | text embedding z_t | timestep embedding | noised image
 *     embedding z_i^(t) | learned output query ]                                   → sequence [B, T + 4, D]
 *
 * whose output at the final token predicts the clean image embedding z_i directly (trained with MSE, not ε).
 * Classifier-free guidance: rows named by `dropText` replace z_t with the learned `null_text_embedding` and mask the
 * text tokens out of the attention.
 *
 * Positions: text tokens take positional_embedding[0 … T), the four fixed tokens always take
 * positional_embedding[maxTextTokens … maxTextTokens + 4), so their positions do not depend on the text length.
 *
 * Keys: `text_token_proj` (Linear textTokenDim → D), `text_embed_proj`, `time_embed.{0,2}`, `image_embed_proj`
 * (Linear E → D), `output_query` [D], `positional_embedding` [maxTextTokens + 4, D], `null_text_embedding` [E],
 * `transformer.resblocks.{i}` (CLIP's block names), `ln_final`, `out_proj` (Linear D → E).
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseSafetensors, type SafetensorsFile } from "@proj/clip";
import { assertDropLength, assertFinite, assertShape, MASKED_SCORE, replaceDropped } from "./conditioning.js";
import { LayerNorm, Linear } from "./layers.js";
import { loadModuleWeights, metadataJson, Module, ModuleCheckpointError, moduleToSafetensors, parameter, type SaveOptions } from "./module.js";
import { timestepEmbedding } from "./timestep-embedding.js";
import { ResidualAttentionBlock } from "./transformer.js";

export interface DiffusionPriorConfig {
  /** Width E of the CLIP embeddings (text and image embeddings share it). */
  clipEmbedDim: number;
  /** Width of the CLIP text encoder's token features; 0 to condition on the pooled text embedding only. */
  textTokenDim: number;
  /** Most text tokens accepted (CLIP's context length). */
  maxTextTokens: number;
  /** Transformer width D. */
  width: number;
  layers: number;
  heads: number;
}

/** Tests: E = 32, D = 32, 2 layers, with text tokens of width 16. */
export const TINY_PRIOR: Readonly<DiffusionPriorConfig> = Object.freeze({
  clipEmbedDim: 32,
  textTokenDim: 16,
  maxTextTokens: 8,
  width: 32,
  layers: 2,
  heads: 2,
});

/** The embedded default prior: D = 256, 4 layers, over CLIP embeddings of width 256 and text tokens of width 128. */
export const SMALL_PRIOR: Readonly<DiffusionPriorConfig> = Object.freeze({
  clipEmbedDim: 256,
  textTokenDim: 128,
  maxTextTokens: 77,
  width: 256,
  layers: 4,
  heads: 4,
});

/** The four tokens after the text: text embedding, timestep, noised image embedding, output query. */
const FIXED_TOKENS = 4;

export function validatePriorConfig(config: DiffusionPriorConfig): Readonly<DiffusionPriorConfig> {
  for (const field of ["clipEmbedDim", "textTokenDim", "maxTextTokens", "width", "layers", "heads"] as const) {
    const value = config[field];
    const positive = field !== "textTokenDim" && field !== "maxTextTokens";
    if (!Number.isInteger(value) || value < (positive ? 1 : 0)) {
      throw new RangeError(`DiffusionPriorConfig: ${field} must be a ${positive ? "positive" : "non-negative"} integer, got ${String(value)}`);
    }
  }
  if (config.width % config.heads !== 0) throw new RangeError(`DiffusionPriorConfig: width ${config.width} is not divisible by ${config.heads} heads`);
  if (config.textTokenDim > 0 && config.maxTextTokens === 0) throw new RangeError("DiffusionPriorConfig: text tokens need maxTextTokens > 0");
  return Object.freeze({ ...config });
}

export function priorConfigFromJson(json: unknown): Readonly<DiffusionPriorConfig> {
  if (typeof json !== "object" || json === null) throw new RangeError("DiffusionPriorConfig: expected a JSON object");
  const missing = Object.keys(TINY_PRIOR).filter((k) => !(k in json));
  if (missing.length > 0) throw new RangeError(`DiffusionPriorConfig: missing fields ${missing.join(", ")}`);
  return validatePriorConfig(json as DiffusionPriorConfig);
}

export interface DiffusionPriorInputs {
  /** [B, E] CLIP text embeddings z_t. */
  textEmbeddings: tf.Tensor2D;
  /** [B, T, textTokenDim] CLIP text token features (optional). */
  textTokens?: tf.Tensor3D;
  /** [B, T]: 1 for real tokens, 0 for padding (default all real). */
  textMask?: tf.Tensor2D;
  /** Rows whose text (embedding and tokens) is replaced by the null condition (classifier-free guidance). */
  dropText?: readonly boolean[];
  /** Check inputs for NaN/∞ (reads them back; default true). */
  checkFinite?: boolean;
}

export const PRIOR_FORMAT = "proj-unclip-prior";

export class DiffusionPrior extends Module {
  readonly config: Readonly<DiffusionPriorConfig>;
  readonly text_token_proj: Linear | undefined;
  readonly text_embed_proj: Linear;
  readonly time_embed: [Linear, undefined, Linear];
  readonly image_embed_proj: Linear;
  readonly output_query: tf.Variable; // [D]
  readonly positional_embedding: tf.Variable; // [maxTextTokens + 4, D]
  readonly null_text_embedding: tf.Variable; // [E]
  readonly transformer: { resblocks: ResidualAttentionBlock[] } & Module;
  readonly ln_final: LayerNorm;
  readonly out_proj: Linear;

  constructor(config: DiffusionPriorConfig, options: { seed?: number } = {}) {
    super();
    const c = validatePriorConfig(config);
    this.config = c;
    const { clipEmbedDim: E, width: D } = c;
    this.text_token_proj = c.textTokenDim > 0 ? new Linear(c.textTokenDim, D) : undefined;
    this.text_embed_proj = new Linear(E, D);
    this.time_embed = [new Linear(D, D), undefined, new Linear(D, D)];
    this.image_embed_proj = new Linear(E, D);
    this.output_query = parameter([D], { kind: "normal", std: 0.02 });
    this.positional_embedding = parameter([c.maxTextTokens + FIXED_TOKENS, D], { kind: "normal", std: 0.01 });
    this.null_text_embedding = parameter([E], { kind: "normal", std: 1 / Math.sqrt(E) });
    this.transformer = new Transformer(Array.from({ length: c.layers }, () => new ResidualAttentionBlock(D, c.heads)));
    this.ln_final = new LayerNorm(D);
    this.out_proj = new Linear(D, E);
    this.initialise(options.seed ?? 0);
  }

  /**
   * Predicts the clean image embedding z_i from its noised version at `timesteps`.
   * noisedImageEmbeddings: [B, E]; timesteps: [B]; returns [B, E].
   */
  forward(noisedImageEmbeddings: tf.Tensor2D, timesteps: tf.Tensor1D | readonly number[], inputs: DiffusionPriorInputs): tf.Tensor2D {
    this.checkInputs(noisedImageEmbeddings, timesteps, inputs);
    return tf.tidy(() => {
      const c = this.config;
      const batch = noisedImageEmbeddings.shape[0];
      const D = c.width;
      const textEmbeddings = replaceDropped(inputs.textEmbeddings, this.null_text_embedding, inputs.dropText); // [B, E]
      const fixed = tf.stack(
        [
          this.text_embed_proj.forward(textEmbeddings),
          this.time_embed[2].forward(this.time_embed[0].forward(timestepEmbedding(timesteps, D), "silu")),
          this.image_embed_proj.forward(noisedImageEmbeddings),
          tf.tile(tf.expandDims(this.output_query, 0), [batch, 1]),
        ],
        1,
      ); // [B, 4, D]
      const fixedPositions = tf.slice(this.positional_embedding, [c.maxTextTokens, 0], [FIXED_TOKENS, D]); // [4, D]
      let x = tf.add(fixed, fixedPositions) as tf.Tensor3D;
      let mask: tf.Tensor | undefined;
      if (this.text_token_proj !== undefined && inputs.textTokens !== undefined) {
        const tokens = inputs.textTokens.shape[1];
        const textPositions = tf.slice(this.positional_embedding, [0, 0], [tokens, D]); // [T, D]
        const text = tf.add(this.text_token_proj.forward(inputs.textTokens), textPositions); // [B, T, D]
        x = tf.concat([text, x], 1) as tf.Tensor3D; // [B, T + 4, D]
        // Key bias [B, 1, 1, T + 4]: padded or dropped text tokens are masked; the fixed tokens never are.
        let keep: tf.Tensor = inputs.textMask === undefined ? tf.ones([batch, tokens]) : tf.cast(tf.notEqual(inputs.textMask, 0), "float32");
        if (inputs.dropText !== undefined) keep = tf.mul(keep, tf.tensor2d(inputs.dropText.map((d) => (d ? 0 : 1)), [batch, 1]));
        const bias = tf.mul(tf.sub(1, keep), MASKED_SCORE); // [B, T]
        mask = tf.reshape(tf.concat([bias, tf.zeros([batch, FIXED_TOKENS])], 1), [batch, 1, 1, tokens + FIXED_TOKENS]);
      }
      for (const block of this.transformer.resblocks) x = block.forward(x, { causal: true, mask });
      const last = tf.squeeze(tf.slice(x, [0, x.shape[1] - 1, 0], [batch, 1, D]), [1]); // [B, D]: the output query
      return this.out_proj.forward(this.ln_final.forward(last)) as tf.Tensor2D; // [B, E]
    });
  }

  private checkInputs(z: tf.Tensor2D, timesteps: tf.Tensor1D | readonly number[], inputs: DiffusionPriorInputs): void {
    const c = this.config;
    const what = "DiffusionPrior.forward";
    const E = c.clipEmbedDim;
    assertShape(`${what}: noisedImageEmbeddings`, z, [-1, E], `([B, clipEmbedDim]: this prior works on CLIP embeddings of width ${E})`);
    const batch = z.shape[0];
    const steps = timesteps instanceof tf.Tensor ? timesteps.shape : [timesteps.length];
    if (steps.length !== 1 || steps[0] !== batch) throw new RangeError(`${what}: timesteps must have shape [${batch}], got [${steps.join(", ")}]`);
    if (inputs?.textEmbeddings === undefined) throw new RangeError(`${what}: textEmbeddings [B, ${E}] are required (use dropText for unconditional rows)`);
    assertShape(`${what}: textEmbeddings`, inputs.textEmbeddings, [batch, E], `([B, clipEmbedDim]: this prior works on CLIP embeddings of width ${E})`);
    assertDropLength(`${what}: dropText`, inputs.dropText, batch);
    const checkFinite = inputs.checkFinite ?? true;
    if (inputs.textTokens !== undefined) {
      if (c.textTokenDim === 0) throw new RangeError(`${what}: this prior is not conditioned on text tokens (textTokenDim = 0)`);
      assertShape(`${what}: textTokens`, inputs.textTokens, [batch, -1, c.textTokenDim], `([B, T, textTokenDim = ${c.textTokenDim}])`);
      const tokens = inputs.textTokens.shape[1];
      if (tokens === 0 || tokens > c.maxTextTokens) throw new RangeError(`${what}: textTokens must have 1…${c.maxTextTokens} tokens, got ${tokens}`);
      if (inputs.textMask !== undefined) assertShape(`${what}: textMask`, inputs.textMask, [batch, tokens], "([B, T], 1 = token, 0 = padding)");
      if (checkFinite) assertFinite(`${what}: textTokens`, inputs.textTokens);
    }
    if (checkFinite) {
      assertFinite(`${what}: noisedImageEmbeddings`, z);
      assertFinite(`${what}: textEmbeddings`, inputs.textEmbeddings);
      if (timesteps instanceof tf.Tensor) assertFinite(`${what}: timesteps`, timesteps);
      else if (!timesteps.every(Number.isFinite)) throw new RangeError(`${what}: timesteps contain a non-finite value`);
    }
  }

  toSafetensors(options: SaveOptions = {}): Uint8Array {
    return moduleToSafetensors(this, { ...options, metadata: { ...options.metadata, format: PRIOR_FORMAT, config: JSON.stringify(this.config) } });
  }

  static fromSafetensors(data: Uint8Array | SafetensorsFile): DiffusionPrior {
    const file = data instanceof Uint8Array ? parseSafetensors(data) : data;
    if (file.metadata.format !== undefined && file.metadata.format !== PRIOR_FORMAT) {
      throw new ModuleCheckpointError(`DiffusionPrior.fromSafetensors: the checkpoint's format is "${file.metadata.format}", not "${PRIOR_FORMAT}"`);
    }
    const prior = new DiffusionPrior(priorConfigFromJson(metadataJson(file, "config", "DiffusionPrior.fromSafetensors")));
    try {
      loadModuleWeights(prior, file);
    } catch (error) {
      prior.dispose();
      throw error;
    }
    return prior;
  }
}

/** Holds the blocks under the key `transformer.resblocks` (CLIP's spelling). */
class Transformer extends Module {
  constructor(readonly resblocks: ResidualAttentionBlock[]) {
    super();
  }
}
