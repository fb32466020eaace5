/**
 * Spatial self-attention that also attends to context tokens (GLIDE `unet.py` `AttentionBlock` with
 * `encoder_channels`; the unCLIP decoder's context is the 4 tokens projected from the CLIP image embedding, optionally
 * followed by projected CLIP text token features):
 *
 *   h = GroupNorm(x)                                  x: [B, H, W, C] → H·W tokens of width C
 *   q, k, v = qkv(h)                                  [B, heads, H·W, d] each, d = C / heads
 *   k_ctx, v_ctx = encoder_kv(context)                [B, heads, S, d] each (context: [B, S, Dctx])
 *   o = softmax(q·[k_ctx | k]ᵀ/√d + bias) · [v_ctx | v]     (context keys first, as GLIDE concatenates them)
 *   out = x + proj_out(o)                             (proj_out starts at zero)
 *
 * `bias` is an additive key mask for the context tokens ([B, 1, 1, S]: 0 keeps, −∞ drops, e.g. padding or dropped
 * text); the H·W image keys are always visible, so no query row is ever empty.
 * Keys: `norm`, `qkv` (Linear C → 3C, columns q | k | v, heads contiguous within each), `encoder_kv`
 * (Linear Dctx → 2C, columns k | v), `proj_out` (Linear C → C). GLIDE stores qkv as a 1×1 conv1d with per-head
 * interleaving; a converter would permute its columns.
 */
import * as tf from "@tensorflow/tfjs-core";
import { attention } from "@proj/tensor-kernels";
import { GroupNorm, Linear } from "./layers.js";
import { Module } from "./module.js";

export interface AttentionBlockConfig {
  channels: number;
  /** Channels per head d; heads = channels / headChannels. */
  headChannels: number;
  groups: number;
  /** Width of the context tokens; 0 for plain self-attention. */
  contextDim: number;
}

/** Context tokens and their optional additive key mask. */
export interface AttentionContext {
  tokens: tf.Tensor3D; // [B, S, Dctx]
  /** [B, 1, 1, S]: 0 keeps a token, −∞ drops it. */
  bias?: tf.Tensor4D;
}

export class AttentionBlock extends Module {
  readonly norm: GroupNorm;
  readonly qkv: Linear;
  readonly encoder_kv: Linear | undefined;
  readonly proj_out: Linear;
  readonly heads: number;

  constructor(readonly config: Readonly<AttentionBlockConfig>) {
    super();
    const { channels, headChannels, groups, contextDim } = config;
    if (!(headChannels > 0) || channels % headChannels !== 0) {
      throw new RangeError(`AttentionBlock: ${channels} channels are not a multiple of headChannels ${headChannels}`);
    }
    this.heads = channels / headChannels;
    this.norm = new GroupNorm(groups, channels);
    this.qkv = new Linear(channels, 3 * channels);
    this.encoder_kv = contextDim > 0 ? new Linear(contextDim, 2 * channels) : undefined;
    this.proj_out = new Linear(channels, channels, { zeroOutput: true });
  }

  /** x: [B, H, W, C] → [B, H, W, C]. */
  forward(x: tf.Tensor4D, context?: AttentionContext): tf.Tensor4D {
    return tf.tidy(() => {
      const [batch, height, width, channels] = x.shape;
      const { headChannels } = this.config;
      const heads = this.heads;
      const tokens = height * width;
      const toHeads = (t: tf.Tensor, length: number): tf.Tensor4D =>
        tf.transpose(tf.reshape(t, [batch, length, heads, headChannels]), [0, 2, 1, 3]); // [B, heads, L, d]
      const h = tf.reshape(this.norm.forward(x), [batch, tokens, channels]); // [B, HW, C]
      const [q, k, v] = tf.split(this.qkv.forward(h), 3, 2).map((t) => toHeads(t, tokens)) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      let keys = k;
      let values = v;
      let mask: tf.Tensor4D | undefined;
      if (this.encoder_kv !== undefined && context !== undefined) {
        const length = context.tokens.shape[1];
        const [kc, vc] = tf.split(this.encoder_kv.forward(context.tokens), 2, 2).map((t) => toHeads(t, length));
        keys = tf.concat([kc!, k], 2) as tf.Tensor4D; // [B, heads, S + HW, d]
        values = tf.concat([vc!, v], 2) as tf.Tensor4D;
        if (context.bias !== undefined) mask = tf.concat([context.bias, tf.zeros([batch, 1, 1, tokens])], 3) as tf.Tensor4D;
      } else if (this.encoder_kv !== undefined) {
        throw new Error("AttentionBlock: this block attends to context tokens but none were given");
      }
      const o = attention(q, keys, values, mask === undefined ? {} : { mask }); // [B, heads, HW, d]
      const merged = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [batch, tokens, channels]); // [B, HW, C]
      return tf.add(x, tf.reshape(this.proj_out.forward(merged), x.shape)) as tf.Tensor4D;
    });
  }
}
