/**
 * CLIP's text encoder (Radford et al. 2021, §2.4; reference `clip/model.py` `CLIP.encode_text`):
 *
 *   x = token_embedding[ids] + positional_embedding     // [N, T, D]
 *   x = ln_final(transformer(x))                         // causal self-attention
 *   features = x[n, argmax(ids[n])] @ text_projection    // [N, embedDim]
 *
 * The pooled position is the largest id of each row, i.e. the first `<|endoftext|>` (49407, the largest id);
 * an empty caption pools at position 1. `text_projection` is `[D, embedDim]` in the checkpoint and used as `x @ P`.
 * In the checkpoint these weights sit at the top level (`token_embedding.weight`, `transformer.…`, `ln_final.…`).
 */
import * as tf from "@tensorflow/tfjs-core";
import { applyLayerNorm, disposeAll, takeLayerNorm, type LayerNormWeights } from "./residual-attention-block.js";
import { Transformer } from "./transformer.js";
import type { TakeWeight } from "./weights.js";

export interface TextTransformerConfig {
  /** Tokens per row T (77). */
  contextLength: number;
  vocabSize: number;
  /** Token width D. */
  width: number;
  layers: number;
  heads: number;
  /** Output width (CLIP's embed_dim). */
  outputDim: number;
}

/** Intermediate activations, for debugging against the reference's hooks. */
export type TextTransformerIntermediates = {
  embeddings: tf.Tensor3D; // [N, T, D]
  resblocks: tf.Tensor3D[]; // each [N, T, D]
  ln_final: tf.Tensor3D; // [N, T, D]
  eotIndex: tf.Tensor1D; // [N] int32
  pooled: tf.Tensor2D; // [N, D]
};

export class TextTransformer {
  private constructor(
    readonly config: Readonly<TextTransformerConfig>,
    readonly token_embedding: { weight: tf.Tensor2D }, // [V, D]
    readonly positional_embedding: tf.Tensor2D, // [T, D]
    readonly transformer: Transformer,
    readonly ln_final: LayerNormWeights,
    readonly text_projection: tf.Tensor2D, // [D, embedDim]
  ) {}

  /** `prefix` is prepended to every key (`""` for OpenAI checkpoints, whose text weights are top-level). */
  static fromWeights(take: TakeWeight, prefix: string, config: TextTransformerConfig): TextTransformer {
    const { contextLength, vocabSize, width, layers, heads, outputDim } = config;
    return new TextTransformer(
      Object.freeze({ ...config }),
      { weight: take(`${prefix}token_embedding.weight`, [vocabSize, width]) as tf.Tensor2D },
      take(`${prefix}positional_embedding`, [contextLength, width]) as tf.Tensor2D,
      Transformer.fromWeights(take, `${prefix}transformer`, { width, layers, heads, causal: true }),
      takeLayerNorm(take, `${prefix}ln_final`, width),
      take(`${prefix}text_projection`, [width, outputDim]) as tf.Tensor2D,
    );
  }

  /** ids: [N, T] int32 token rows (`clip.tokenize`) → [N, outputDim]. */
  forward(ids: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.run(ids).features);
  }

  /** Like `forward`, also returning the intermediate activations (the caller disposes all of them). */
  forwardWithIntermediates(ids: tf.Tensor2D): { features: tf.Tensor2D; intermediates: TextTransformerIntermediates } {
    return tf.tidy(() => this.run(ids, true));
  }

  private run(ids: tf.Tensor2D, keepIntermediates = false): { features: tf.Tensor2D; intermediates: TextTransformerIntermediates } {
    const { contextLength, width } = this.config;
    const [batch, tokens] = ids.shape;
    if (ids.rank !== 2 || tokens !== contextLength || ids.dtype !== "int32") {
      throw new RangeError(`TextTransformer: expected int32 token ids [N, ${contextLength}], got ${ids.dtype} [${ids.shape.join(", ")}]`);
    }
    const embeddings = tf.add(tf.gather(this.token_embedding.weight, ids), this.positional_embedding) as tf.Tensor3D; // [N, T, D]
    const resblocks: tf.Tensor3D[] = [];
    let x = embeddings;
    for (const block of this.transformer.resblocks) {
      x = block.forward(x);
      if (keepIntermediates) resblocks.push(x);
    }
    const normalized = applyLayerNorm(x, this.ln_final) as tf.Tensor3D; // [N, T, D]
    const eotIndex = tf.cast(tf.argMax(ids, 1), "int32") as tf.Tensor1D; // [N]: first <|endoftext|>
    const rows = tf.add(tf.mul(tf.range(0, batch, 1, "int32"), tf.scalar(tokens, "int32")), eotIndex); // [N] flat row n·T + eot
    const pooled = tf.gather(tf.reshape(normalized, [batch * tokens, width]), rows) as tf.Tensor2D; // [N, D]
    const features = tf.matMul(pooled, this.text_projection) as tf.Tensor2D; // [N, embedDim]
    return { features, intermediates: { embeddings, resblocks, ln_final: normalized, eotIndex, pooled } };
  }

  dispose(): void {
    this.transformer.dispose();
    disposeAll([this.token_embedding, this.positional_embedding, this.ln_final, this.text_projection]);
  }
}
