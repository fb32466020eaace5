/**
 * CLIP's ResidualAttentionBlock (reference `clip/model.py`): a pre-LayerNorm transformer block,
 *
 *   x = x + out_proj(MHA(ln_1(x)))                 // attention, causal for the text encoder
 *   x = x + c_proj(QuickGELU(c_fc(ln_2(x))))       // QuickGELU(z) = z · σ(1.702 z)
 *
 * Property paths mirror the checkpoint keys under `…resblocks.i.` (`attn.in_proj_weight`, `mlp.c_fc`, …).
 * Weights arrive through the loader's `take` in the layout `linear` uses: every `nn.Linear` weight `[in, out]`
 * (the loader transposes the checkpoint's `[out, in]`, see `CHECKPOINT_TRANSFORMS` in `clip-model.ts`).
 * `attn.in_proj_weight` packs q, k and v: `[D, 3D]` here, columns q | k | v.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layerNorm, linear, qkvAttention } from "@proj/tensor-kernels";
import type { TakeWeight } from "./weights.js";

/** PyTorch's `nn.LayerNorm` eps (CLIP uses the default). */
export const LAYER_NORM_EPSILON = 1e-5;

export interface LayerNormWeights {
  weight: tf.Tensor1D; // [D] γ
  bias: tf.Tensor1D; // [D] β
}

/** An `nn.Linear` as `linear` takes it. */
export interface LinearLayerWeights {
  weight: tf.Tensor2D; // [in, out]
  bias: tf.Tensor1D; // [out]
}

export function takeLayerNorm(take: TakeWeight, prefix: string, width: number): LayerNormWeights {
  return { weight: take(`${prefix}.weight`, [width]) as tf.Tensor1D, bias: take(`${prefix}.bias`, [width]) as tf.Tensor1D };
}

/** `take` returns the `[in, out]` layout (see the module comment). */
export function takeLinear(take: TakeWeight, prefix: string, inFeatures: number, outFeatures: number): LinearLayerWeights {
  return {
    weight: take(`${prefix}.weight`, [inFeatures, outFeatures]) as tf.Tensor2D,
    bias: take(`${prefix}.bias`, [outFeatures]) as tf.Tensor1D,
  };
}

export function applyLayerNorm(x: tf.Tensor, norm: LayerNormWeights): tf.Tensor {
  return layerNorm(x, norm.weight, norm.bias, { epsilon: LAYER_NORM_EPSILON });
}

export function disposeAll(value: unknown): void {
  if (value instanceof tf.Tensor) value.dispose();
  else if (Array.isArray(value)) value.forEach(disposeAll);
  else if (typeof value === "object" && value !== null) Object.values(value).forEach(disposeAll);
}

export interface ResidualAttentionBlockConfig {
  /** Token width D. */
  width: number;
  heads: number;
  /** Text encoder: each token attends to itself and earlier ones (the reference's additive −∞ mask above the diagonal). */
  causal: boolean;
}

export class ResidualAttentionBlock {
  private constructor(
    readonly config: Readonly<ResidualAttentionBlockConfig>,
    readonly ln_1: LayerNormWeights,
    readonly attn: {
      in_proj_weight: tf.Tensor2D; // [D, 3D], columns q | k | v
      in_proj_bias: tf.Tensor1D; // [3D]
      out_proj: LinearLayerWeights; // [D, D]
    },
    readonly ln_2: LayerNormWeights,
    readonly mlp: { c_fc: LinearLayerWeights /* [D, 4D] */; c_proj: LinearLayerWeights /* [4D, D] */ },
  ) {}

  /** `prefix` is the checkpoint path of the block, e.g. `transformer.resblocks.0`. */
  static fromWeights(take: TakeWeight, prefix: string, config: ResidualAttentionBlockConfig): ResidualAttentionBlock {
    const { width, heads } = config;
    if (!(heads > 0) || width % heads !== 0) {
      throw new RangeError(`ResidualAttentionBlock ${prefix}: width ${width} is not divisible by ${heads} heads`);
    }
    return new ResidualAttentionBlock(
      Object.freeze({ ...config }),
      takeLayerNorm(take, `${prefix}.ln_1`, width),
      {
        in_proj_weight: take(`${prefix}.attn.in_proj_weight`, [width, 3 * width]) as tf.Tensor2D,
        in_proj_bias: take(`${prefix}.attn.in_proj_bias`, [3 * width]) as tf.Tensor1D,
        out_proj: takeLinear(take, `${prefix}.attn.out_proj`, width, width),
      },
      takeLayerNorm(take, `${prefix}.ln_2`, width),
      {
        c_fc: takeLinear(take, `${prefix}.mlp.c_fc`, width, 4 * width),
        c_proj: takeLinear(take, `${prefix}.mlp.c_proj`, 4 * width, width),
      },
    );
  }

  /** x: [B, T, D] → [B, T, D]. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const afterAttention = tf.add(x, this.attention(applyLayerNorm(x, this.ln_1) as tf.Tensor3D)); // [B, T, D]
      const hidden = linear(applyLayerNorm(afterAttention, this.ln_2), this.mlp.c_fc.weight, this.mlp.c_fc.bias, {
        activation: "quickGelu",
      }); // [B, T, 4D]
      return tf.add(afterAttention, linear(hidden, this.mlp.c_proj.weight, this.mlp.c_proj.bias)) as tf.Tensor3D;
    });
  }

  /** Multi-head self-attention, `nn.MultiheadAttention` with packed in_proj: [B, T, D] → [B, T, D]. */
  private attention(x: tf.Tensor3D): tf.Tensor3D {
    const { heads, causal } = this.config;
    const qkv = linear(x, this.attn.in_proj_weight, this.attn.in_proj_bias); // [B, T, 3D]
    // q | k | v split into heads, attention per head (scale 1/√Dh), heads merged back: [B, T, D]. One fused kernel
    // on the native backend; the split/transpose composition elsewhere.
    const merged = qkvAttention(qkv, { heads, causal });
    return linear(merged, this.attn.out_proj.weight, this.attn.out_proj.bias) as tf.Tensor3D;
  }

  dispose(): void {
    disposeAll([this.ln_1, this.attn, this.ln_2, this.mlp]);
  }
}
