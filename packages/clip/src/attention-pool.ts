/**
 * CLIP's AttentionPool2d (Radford et al. 2021, §2.4; reference `clip/model.py` `AttentionPool2d`): the last
 * ModifiedResNet feature map is pooled by one multi-head attention step whose only query is the mean of the
 * spatial tokens.
 *
 *   tokens = [mean(x), x₁ … x_S] + positional_embedding        // S = (R/32)² spatial tokens, [N, S + 1, C]
 *   q = tokens₀ W_qᵀ + b_q,  k = tokens W_kᵀ + b_k,  v = tokens W_vᵀ + b_v
 *   out = MHA(q, k, v) W_cᵀ + b_c                              // [N, outputDim]
 *
 * Property paths mirror the checkpoint keys under `visual.attnpool.` (`q_proj.weight`, …). The `nn.Linear`
 * weights are stored `[out, in]`; they arrive through the loader's `take` already as the `[in, out]` that `linear`
 * takes (the loader transposes them, see `CHECKPOINT_TRANSFORMS` in `clip-model.ts`).
 */
import * as tf from "@tensorflow/tfjs-core";
import { attention, linear } from "@proj/tensor-kernels";
import type { TakeWeight } from "./weights.js";

export interface AttentionPool2dConfig {
  /** Side of the square feature map it pools (R/32 for the ModifiedResNet). */
  spatialSize: number;
  /** Channels of the feature map (32 · vision_width). */
  embedDim: number;
  /** Attention heads (the reference derives vision_width · 32 / 64). */
  heads: number;
  /** Width of the pooled output (CLIP's embed_dim). */
  outputDim: number;
}

/** An `nn.Linear` as `linear` takes it. */
export interface LinearWeights {
  weight: tf.Tensor2D; // [in, out]
  bias: tf.Tensor1D; // [out]
}

/** `take` returns the `[in, out]` layout (see the module comment). */
function takeLinear(take: TakeWeight, prefix: string, inFeatures: number, outFeatures: number): LinearWeights {
  return {
    weight: take(`${prefix}.weight`, [inFeatures, outFeatures]) as tf.Tensor2D,
    bias: take(`${prefix}.bias`, [outFeatures]) as tf.Tensor1D,
  };
}

export class AttentionPool2d {
  private constructor(
    readonly config: Readonly<AttentionPool2dConfig>,
    readonly positional_embedding: tf.Tensor2D, // [S + 1, C]
    readonly q_proj: LinearWeights,
    readonly k_proj: LinearWeights,
    readonly v_proj: LinearWeights,
    readonly c_proj: LinearWeights,
  ) {}

  /** `prefix` is the checkpoint path of the module, e.g. `visual.attnpool`. */
  static fromWeights(take: TakeWeight, prefix: string, config: AttentionPool2dConfig): AttentionPool2d {
    const { spatialSize, embedDim, heads, outputDim } = config;
    if (embedDim % heads !== 0) throw new RangeError(`AttentionPool2d: embedDim ${embedDim} is not divisible by heads ${heads}`);
    const positional = take(`${prefix}.positional_embedding`, [spatialSize * spatialSize + 1, embedDim]) as tf.Tensor2D;
    return new AttentionPool2d(
      Object.freeze({ ...config }),
      positional,
      takeLinear(take, `${prefix}.q_proj`, embedDim, embedDim),
      takeLinear(take, `${prefix}.k_proj`, embedDim, embedDim),
      takeLinear(take, `${prefix}.v_proj`, embedDim, embedDim),
      takeLinear(take, `${prefix}.c_proj`, embedDim, outputDim),
    );
  }

  /** x: [N, h, w, C] NHWC with h = w = spatialSize → [N, outputDim]. */
  forward(x: tf.Tensor4D): tf.Tensor2D {
    const { spatialSize, embedDim, heads } = this.config;
    const [batch, height, width, channels] = x.shape;
    if (height !== spatialSize || width !== spatialSize || channels !== embedDim) {
      throw new RangeError(
        `AttentionPool2d: expected [N, ${spatialSize}, ${spatialSize}, ${embedDim}], got [${x.shape.join(", ")}]`,
      );
    }
    const headSize = embedDim / heads;
    const tokenCount = spatialSize * spatialSize + 1;
    return tf.tidy(() => {
      const spatial = tf.reshape(x, [batch, spatialSize * spatialSize, embedDim]); // [N, S, C], row-major like torch's flatten(2)
      const mean = tf.mean(spatial, 1, true); // [N, 1, C]
      const tokens = tf.add(tf.concat([mean, spatial], 1), this.positional_embedding); // [N, S + 1, C]
      const toHeads = (t: tf.Tensor, length: number): tf.Tensor4D =>
        tf.transpose(tf.reshape(t, [batch, length, heads, headSize]), [0, 2, 1, 3]); // [N, H, T, D]
      const query = tf.slice(tokens, [0, 0, 0], [batch, 1, embedDim]); // [N, 1, C]: the mean token only
      const q = toHeads(linear(query, this.q_proj.weight, this.q_proj.bias), 1); // [N, H, 1, D]
      const k = toHeads(linear(tokens, this.k_proj.weight, this.k_proj.bias), tokenCount); // [N, H, S + 1, D]
      const v = toHeads(linear(tokens, this.v_proj.weight, this.v_proj.bias), tokenCount); // [N, H, S + 1, D]
      const attended = attention(q, k, v, { scale: 1 / Math.sqrt(headSize) }); // [N, H, 1, D]
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [batch, embedDim]); // [N, C]
      return linear(merged, this.c_proj.weight, this.c_proj.bias) as tf.Tensor2D; // [N, outputDim]
    });
  }

  dispose(): void {
    this.positional_embedding.dispose();
    for (const p of [this.q_proj, this.k_proj, this.v_proj, this.c_proj]) {
      p.weight.dispose();
      p.bias.dispose();
    }
  }
}
