/**
 * A trainable pre-LayerNorm transformer block with CLIP's key names (`ln_1`, `attn.in_proj_weight`,
 * `attn.in_proj_bias`, `attn.out_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`), used by the diffusion prior:
 *
 *   x = x + out_proj(MHA(ln_1(x), mask))        // causal in the prior
 *   x = x + c_proj(GELU(c_fc(ln_2(x))))
 *
 * `in_proj_weight` is [D, 3D] with columns q | k | v (the `linear` layout; PyTorch stores [3D, D]).
 */
import * as tf from "@tensorflow/tfjs-core";
import { attention, linear } from "@proj/tensor-kernels";
import { LayerNorm, Linear } from "./layers.js";
import { Module, parameter } from "./module.js";

export class MultiheadAttention extends Module {
  readonly in_proj_weight: tf.Variable; // [D, 3D]
  readonly in_proj_bias: tf.Variable; // [3D]
  readonly out_proj: Linear; // [D, D]

  constructor(
    readonly width: number,
    readonly heads: number,
  ) {
    super();
    if (!(heads > 0) || width % heads !== 0) throw new RangeError(`MultiheadAttention: width ${width} is not divisible by ${heads} heads`);
    this.in_proj_weight = parameter([width, 3 * width], { kind: "uniform", bound: Math.sqrt(6 / (4 * width)) }); // xavier_uniform of [3D, D]
    this.in_proj_bias = parameter([3 * width], { kind: "zeros" });
    this.out_proj = new Linear(width, width);
  }

  /** x: [B, T, D]; mask: additive, broadcastable to [B, heads, T, T] → [B, T, D]. */
  forward(x: tf.Tensor3D, options: { causal?: boolean; mask?: tf.Tensor } = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, tokens, width] = x.shape;
      const headSize = width / this.heads;
      const qkv = linear(x, this.in_proj_weight, this.in_proj_bias); // [B, T, 3D]
      const toHeads = (t: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(t, [batch, tokens, this.heads, headSize]), [0, 2, 1, 3]); // [B, H, T, d]
      const [q, k, v] = tf.split(qkv, 3, 2).map(toHeads) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const o = attention(q, k, v, { causal: options.causal ?? false, mask: options.mask ?? null }); // [B, H, T, d]
      return this.out_proj.forward(tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [batch, tokens, width])) as tf.Tensor3D;
    });
  }
}

export class Mlp extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;
  constructor(width: number, hidden: number) {
    super();
    this.c_fc = new Linear(width, hidden);
    this.c_proj = new Linear(hidden, width);
  }
  /** [..., D] → [..., D]. */
  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => this.c_proj.forward(this.c_fc.forward(x, "gelu")));
  }
}

export class ResidualAttentionBlock extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: MultiheadAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: Mlp;

  constructor(width: number, heads: number, mlpRatio = 4) {
    super();
    this.ln_1 = new LayerNorm(width);
    this.attn = new MultiheadAttention(width, heads);
    this.ln_2 = new LayerNorm(width);
    this.mlp = new Mlp(width, mlpRatio * width);
  }

  /** x: [B, T, D] → [B, T, D]. */
  forward(x: tf.Tensor3D, options: { causal?: boolean; mask?: tf.Tensor } = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const h = tf.add(x, this.attn.forward(this.ln_1.forward(x), options)) as tf.Tensor3D;
      return tf.add(h, this.mlp.forward(this.ln_2.forward(h))) as tf.Tensor3D;
    });
  }
}
