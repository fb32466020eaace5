/**
 * Plain tfjs compositions of the U-Net blocks (tf.moments, tf.conv2d, tf.matMul, tf.softmax: no `@proj/tensor-kernels`
 * op), written from the equations in the block headers, as independent references for outputs and gradients.
 */
import * as tf from "@tensorflow/tfjs";
import type { AttentionBlock, AttentionContext } from "../attention-block.js";
import type { Conv2d, GroupNorm, Linear } from "../layers.js";
import type { ResnetBlock } from "../resnet-block.js";

export function groupNormPlain(x: tf.Tensor, norm: GroupNorm, silu = false): tf.Tensor {
  return tf.tidy(() => {
    const [batch] = x.shape;
    const channels = norm.channels;
    const g = tf.reshape(x, [batch!, -1, norm.groups, channels / norm.groups]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    const y = tf.add(tf.mul(tf.reshape(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, 1e-5))), x.shape), norm.weight), norm.bias);
    return silu ? tf.mul(y, tf.sigmoid(y)) : y;
  });
}

export function linearPlain(x: tf.Tensor, layer: Linear): tf.Tensor {
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const y = tf.matMul(tf.reshape(x, [-1, layer.inFeatures]), layer.weight);
    return tf.reshape(layer.bias === undefined ? y : tf.add(y, layer.bias), [...lead, layer.outFeatures]);
  });
}

export function convPlain(x: tf.Tensor4D, conv: Conv2d): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.conv2d(x, conv.weight as tf.Tensor4D, conv.stride, "same"), conv.bias));
}

export function resnetBlockPlain(block: ResnetBlock, x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const { outChannels, useScaleShiftNorm } = block.config;
    const h = convPlain(groupNormPlain(x, block.in_layers[0], true) as tf.Tensor4D, block.in_layers[2]);
    const e = tf.reshape(linearPlain(tf.mul(emb, tf.sigmoid(emb)), block.emb_layers[1]), [x.shape[0], 1, 1, -1]);
    let out: tf.Tensor;
    if (useScaleShiftNorm) {
      const scale = tf.slice(e, [0, 0, 0, 0], [-1, -1, -1, outChannels]);
      const shift = tf.slice(e, [0, 0, 0, outChannels], [-1, -1, -1, outChannels]);
      const y = tf.add(tf.mul(groupNormPlain(h, block.out_layers[0]), tf.add(scale, 1)), shift);
      out = tf.mul(y, tf.sigmoid(y));
    } else {
      out = groupNormPlain(tf.add(h, e), block.out_layers[0], true);
    }
    out = convPlain(out as tf.Tensor4D, block.out_layers[3]);
    const skip = block.skip_connection === undefined ? x : convPlain(x, block.skip_connection);
    return tf.add(skip, out);
  });
}

export function attentionBlockPlain(block: AttentionBlock, x: tf.Tensor4D, context?: AttentionContext): tf.Tensor {
  return tf.tidy(() => {
    const [batch, height, width, channels] = x.shape;
    const heads = block.heads;
    const d = channels / heads;
    const tokens = height * width;
    const toHeads = (t: tf.Tensor, length: number) => tf.transpose(tf.reshape(t, [batch, length, heads, d]), [0, 2, 1, 3]);
    const h = tf.reshape(groupNormPlain(x, block.norm), [batch, tokens, channels]);
    const qkv = linearPlain(h, block.qkv);
    const q = toHeads(tf.slice(qkv, [0, 0, 0], [-1, -1, channels]), tokens);
    let k = toHeads(tf.slice(qkv, [0, 0, channels], [-1, -1, channels]), tokens);
    let v = toHeads(tf.slice(qkv, [0, 0, 2 * channels], [-1, -1, channels]), tokens);
    let scores: tf.Tensor;
    if (context !== undefined && block.encoder_kv !== undefined) {
      const s = context.tokens.shape[1];
      const kv = linearPlain(context.tokens, block.encoder_kv);
      k = tf.concat([toHeads(tf.slice(kv, [0, 0, 0], [-1, -1, channels]), s), k], 2);
      v = tf.concat([toHeads(tf.slice(kv, [0, 0, channels], [-1, -1, channels]), s), v], 2);
      scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(d));
      if (context.bias !== undefined) scores = tf.add(scores, tf.concat([context.bias, tf.zeros([batch, 1, 1, tokens])], 3));
    } else {
      scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(d));
    }
    const o = tf.matMul(tf.softmax(scores), v);
    const merged = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [batch, tokens, channels]);
    return tf.add(x, tf.reshape(linearPlain(merged, block.proj_out), x.shape));
  });
}
