/**
 * The diffusion U-Net's residual block (guided-diffusion `unet.py` `ResBlock`, Ho et al. 2020 / Nichol & Dhariwal
 * 2021 §3 for the scale-shift norm):
 *
 *   h = in_layers(x)                       = conv3×3(SiLU(GroupNorm(x)))
 *   e = emb_layers(emb)                    = Linear(SiLU(emb))            [B, C'] or [B, 2C'] with scale-shift
 *   h = SiLU(GroupNorm(h) · (1 + scale) + shift)      (scale-shift norm: e = [scale | shift])
 *     or SiLU(GroupNorm(h + e))                       (otherwise)
 *   out = skip_connection(x) + conv3×3(h)             (the last conv starts at zero; no dropout)
 *
 * Keys as in guided-diffusion: `in_layers.0` (GroupNorm), `in_layers.2` (conv), `emb_layers.1`, `out_layers.0`
 * (GroupNorm), `out_layers.3` (conv), `skip_connection` (1×1 conv, only when the channel count changes).
 */
import * as tf from "@tensorflow/tfjs-core";
import { Conv2d, GroupNorm, Linear, silu } from "./layers.js";
import { Module } from "./module.js";

export interface ResnetBlockConfig {
  inChannels: number;
  outChannels: number;
  /** Width of the (time + conditioning) embedding vector. */
  embedDim: number;
  groups: number;
  /** FiLM-like `GroupNorm(h)·(1 + scale) + shift` instead of adding the embedding (guided-diffusion `use_scale_shift_norm`). */
  useScaleShiftNorm: boolean;
}

export class ResnetBlock extends Module {
  readonly in_layers: [GroupNorm, undefined, Conv2d];
  readonly emb_layers: [undefined, Linear];
  readonly out_layers: [GroupNorm, undefined, undefined, Conv2d];
  readonly skip_connection: Conv2d | undefined;

  constructor(readonly config: Readonly<ResnetBlockConfig>) {
    super();
    const { inChannels, outChannels, embedDim, groups, useScaleShiftNorm } = config;
    this.in_layers = [new GroupNorm(groups, inChannels), undefined, new Conv2d(inChannels, outChannels)];
    this.emb_layers = [undefined, new Linear(embedDim, useScaleShiftNorm ? 2 * outChannels : outChannels)];
    this.out_layers = [new GroupNorm(groups, outChannels), undefined, undefined, new Conv2d(outChannels, outChannels, { zeroOutput: true })];
    this.skip_connection = inChannels === outChannels ? undefined : new Conv2d(inChannels, outChannels, { kernelSize: 1 });
  }

  /** x: [B, H, W, Cin], emb: [B, embedDim] → [B, H, W, Cout]. */
  forward(x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      const { outChannels, useScaleShiftNorm } = this.config;
      const batch = x.shape[0];
      const h = this.in_layers[2].forward(this.in_layers[0].forward(x, "silu")); // [B, H, W, Cout]
      const e = tf.reshape(this.emb_layers[1].forward(silu(emb)), [batch, 1, 1, -1]); // [B, 1, 1, C'|2C']
      let out: tf.Tensor4D;
      if (useScaleShiftNorm) {
        const [scale, shift] = tf.split(e, [outChannels, outChannels], 3) as [tf.Tensor4D, tf.Tensor4D];
        const normed = this.out_layers[0].forward(h); // [B, H, W, Cout]
        out = silu(tf.add(tf.mul(normed, tf.add(scale, 1)), shift));
      } else {
        out = this.out_layers[0].forward(tf.add(h, e) as tf.Tensor4D, "silu");
      }
      out = this.out_layers[3].forward(out);
      const skip = this.skip_connection === undefined ? x : this.skip_connection.forward(x);
      return tf.add(skip, out) as tf.Tensor4D;
    });
  }
}
