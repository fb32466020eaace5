/**
 * CLIP's Transformer (reference `clip/model.py`): `layers` ResidualAttentionBlocks in sequence, batch-first
 * here ([B, T, D]; the reference runs sequence-first [T, B, D], which is the same computation).
 */
import type * as tf from "@tensorflow/tfjs-core";
import { ResidualAttentionBlock } from "./residual-attention-block.js";
import type { TakeWeight } from "./weights.js";

export interface TransformerConfig {
  width: number;
  layers: number;
  heads: number;
  /** Causal self-attention (text encoder) or full (vision). */
  causal: boolean;
}

export class Transformer {
  private constructor(
    readonly config: Readonly<TransformerConfig>,
    readonly resblocks: readonly ResidualAttentionBlock[],
  ) {}

  /** `prefix` is the checkpoint path, e.g. `transformer` or `visual.transformer`. */
  static fromWeights(take: TakeWeight, prefix: string, config: TransformerConfig): Transformer {
    const { width, heads, causal } = config;
    const resblocks = Array.from({ length: config.layers }, (_, i) =>
      ResidualAttentionBlock.fromWeights(take, `${prefix}.resblocks.${i}`, { width, heads, causal }),
    );
    return new Transformer(Object.freeze({ ...config }), Object.freeze(resblocks));
  }

  /** x: [B, T, D] → [B, T, D]. The caller keeps `x`; intermediate block outputs are disposed. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    let current = x;
    for (const block of this.resblocks) {
      const next = block.forward(current);
      if (current !== x) current.dispose();
      current = next;
    }
    return current === x ? (x.clone() as tf.Tensor3D) : current;
  }

  dispose(): void {
    for (const block of this.resblocks) block.dispose();
  }
}
