/**
 * CLIP's ModifiedResNet image encoder, the RN50 family (Radford et al. 2021, §2.4; reference `clip/model.py`
 * `ModifiedResNet` and `Bottleneck`), in NHWC:
 *
 *   stem:   conv1 3×3/2 → conv2 3×3 → conv3 3×3 (each BatchNorm + ReLU) → AvgPool 2×2     // [N, R/4, R/4, width]
 *   layer1…layer4: Bottleneck blocks (planes = width, 2·width, 4·width, 8·width; the first block of layers 2–4
 *           has stride 2; output channels 4·planes)                                       // [N, R/32, R/32, 32·width]
 *   attnpool: AttentionPool2d (mean token as the only query) → c_proj                     // [N, outputDim]
 *
 * Bottleneck (anti-aliased: strides are average pools, never strided convs):
 *   out = relu(bn1(conv1 1×1(x))); out = relu(bn2(conv2 3×3(out))); out = AvgPool(stride)(out) if stride > 1
 *   out = bn3(conv3 1×1(out))                                     // 4·planes channels
 *   identity = bn(conv 1×1(AvgPool(stride)(x))) when stride > 1 or the channels change (`downsample.0/1`), else x
 *   return relu(out + identity)
 *
 * BatchNorm folding: we run inference only, so each BatchNorm (weight γ, bias β, running_mean μ, running_var σ²,
 * eps 1e-5) is an affine map per output channel and is folded at load time into the convolution before it:
 *   W'[…, o] = W[…, o] · γ_o / √(σ²_o + eps),   b'_o = β_o − μ_o · γ_o / √(σ²_o + eps)
 * so every conv+BN pair becomes one biased convolution (`FoldedConv`). Layouts: conv weights are OIHW in the
 * checkpoint and arrive through the loader's `take` already as the HWIO that `tf.conv2d` takes (as do the attention
 * pool's `nn.Linear` weights, `[in, out]`); the loader's one table of transposes is `CHECKPOINT_TRANSFORMS` in
 * `clip-model.ts`, and components transpose nothing themselves. Property paths mirror the checkpoint keys: `conv1` holds
 * `visual.conv1.weight` folded with `visual.bn1.*`; `layer1[0].conv2` holds `visual.layer1.0.conv2.weight` folded with
 * `visual.layer1.0.bn2.*`; `layer1[0].downsample` holds `downsample.0.weight` folded with `downsample.1.*`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { AttentionPool2d } from "./attention-pool.js";
import type { TakeWeight } from "./weights.js";

export interface ModifiedResNetConfig {
  /** Bottleneck blocks per layer (CLIP's `vision_layers`, e.g. [3, 4, 6, 3] for RN50). */
  layers: [number, number, number, number];
  /** Stem width (CLIP's `vision_width`, 64 for RN50); layer i has planes width·2^i and 4× as many output channels. */
  width: number;
  /** Width of the image features (CLIP's `embed_dim`). */
  outputDim: number;
  /** Attention-pool heads; the reference derives width · 32 / 64. */
  heads: number;
  /** Input side R in pixels (CLIP's `image_resolution`); must be a multiple of 32. */
  inputResolution: number;
}

/** OpenAI's RN50 (`RN50.pt`). */
export const RN50: Readonly<ModifiedResNetConfig> = Object.freeze({
  layers: [3, 4, 6, 3] as [number, number, number, number],
  width: 64,
  outputDim: 1024,
  heads: 32,
  inputResolution: 224,
});

/** Inference BatchNorm's epsilon in the reference (`nn.BatchNorm2d` default). */
export const BATCH_NORM_EPS = 1e-5;

/** A convolution with its following BatchNorm folded in (see the file comment). */
export interface FoldedConv {
  weight: tf.Tensor4D; // [kH, kW, in, out] (HWIO)
  bias: tf.Tensor1D; // [out]
  stride: number;
  /** Symmetric zero padding, as in the reference (`padding=1` for 3×3, none for 1×1). */
  pad: number;
}

function takeFoldedConv(
  take: TakeWeight,
  convKey: string,
  bnPrefix: string,
  inChannels: number,
  outChannels: number,
  kernelSize: number,
  stride = 1,
): FoldedConv {
  const convWeight = take(convKey, [kernelSize, kernelSize, inChannels, outChannels]); // HWIO (the loader transposed OIHW)
  const gamma = take(`${bnPrefix}.weight`, [outChannels]);
  const beta = take(`${bnPrefix}.bias`, [outChannels]);
  const runningMean = take(`${bnPrefix}.running_mean`, [outChannels]);
  const runningVar = take(`${bnPrefix}.running_var`, [outChannels]);
  const folded = tf.tidy(() => {
    const scale = tf.div(gamma, tf.sqrt(tf.add(runningVar, BATCH_NORM_EPS))); // [out]: γ / √(σ² + eps)
    const weight = tf.mul(convWeight, scale) as tf.Tensor4D; // HWIO · scale per out
    const bias = tf.sub(beta, tf.mul(runningMean, scale)) as tf.Tensor1D; // β − μ · scale
    return { weight, bias };
  });
  tf.dispose([convWeight, gamma, beta, runningMean, runningVar]);
  return { ...folded, stride, pad: (kernelSize - 1) / 2 };
}

function conv(x: tf.Tensor4D, c: FoldedConv, activation: "relu" | "linear"): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: c.weight, strides: c.stride, pad: c.pad, bias: c.bias, activation });
}

function disposeConv(c: FoldedConv): void {
  c.weight.dispose();
  c.bias.dispose();
}

/** AvgPool2d(stride) as in the reference: kernel = stride, no padding; identity for stride 1. */
function avgPool(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  return stride > 1 ? tf.avgPool(x, stride, stride, "valid") : x;
}

export class Bottleneck {
  /** Output channels per input "plane" (`Bottleneck.expansion`). */
  static readonly expansion = 4;

  private constructor(
    readonly conv1: FoldedConv, // 1×1, + bn1
    readonly conv2: FoldedConv, // 3×3 pad 1, + bn2
    readonly conv3: FoldedConv, // 1×1 to 4·planes, + bn3
    /** `downsample.0` (1×1 conv) + `downsample.1` (BatchNorm), after the weightless `downsample.-1` AvgPool. */
    readonly downsample: FoldedConv | null,
    readonly stride: number,
  ) {}

  /** `prefix` e.g. `visual.layer2.0`. */
  static fromWeights(take: TakeWeight, prefix: string, inplanes: number, planes: number, stride: number): Bottleneck {
    const outChannels = planes * Bottleneck.expansion;
    const conv1 = takeFoldedConv(take, `${prefix}.conv1.weight`, `${prefix}.bn1`, inplanes, planes, 1);
    const conv2 = takeFoldedConv(take, `${prefix}.conv2.weight`, `${prefix}.bn2`, planes, planes, 3);
    const conv3 = takeFoldedConv(take, `${prefix}.conv3.weight`, `${prefix}.bn3`, planes, outChannels, 1);
    const downsample =
      stride > 1 || inplanes !== outChannels
        ? takeFoldedConv(take, `${prefix}.downsample.0.weight`, `${prefix}.downsample.1`, inplanes, outChannels, 1)
        : null;
    return new Bottleneck(conv1, conv2, conv3, downsample, stride);
  }

  /** [N, h, w, inplanes] → [N, h/stride, w/stride, 4·planes]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let out = conv(x, this.conv1, "relu");
      out = conv(out, this.conv2, "relu");
      out = avgPool(out, this.stride); // after conv2, before conv3
      out = conv(out, this.conv3, "linear");
      const identity = this.downsample === null ? x : conv(avgPool(x, this.stride), this.downsample, "linear");
      return tf.relu(tf.add(out, identity) as tf.Tensor4D);
    });
  }

  dispose(): void {
    disposeConv(this.conv1);
    disposeConv(this.conv2);
    disposeConv(this.conv3);
    if (this.downsample !== null) disposeConv(this.downsample);
  }
}

/** Activations of one forward pass, NHWC (the fixture's `intermediates.visual.*` are the same in NCHW). */
// A type alias, not an interface, so that it is a `TensorContainer` that `tf.tidy` may return.
export type ModifiedResNetIntermediates = {
  stem: tf.Tensor4D; // [N, R/4, R/4, width]
  layer1: tf.Tensor4D; // [N, R/4, R/4, 4·width]
  layer2: tf.Tensor4D; // [N, R/8, R/8, 8·width]
  layer3: tf.Tensor4D; // [N, R/16, R/16, 16·width]
  layer4: tf.Tensor4D; // [N, R/32, R/32, 32·width]
  imageFeatures: tf.Tensor2D; // [N, outputDim]
};

export class ModifiedResNet {
  private constructor(
    readonly config: Readonly<ModifiedResNetConfig>,
    readonly conv1: FoldedConv, // 3×3/2, 3 → width/2, + bn1
    readonly conv2: FoldedConv, // 3×3, width/2 → width/2, + bn2
    readonly conv3: FoldedConv, // 3×3, width/2 → width, + bn3
    readonly layer1: readonly Bottleneck[],
    readonly layer2: readonly Bottleneck[],
    readonly layer3: readonly Bottleneck[],
    readonly layer4: readonly Bottleneck[],
    readonly attnpool: AttentionPool2d,
  ) {}

  /**
   * `take` returns checkpoint tensors by their full key (`visual.conv1.weight`, …) in the model layout (conv HWIO,
   * linear `[in, out]`): pass the loader's `takeInModelLayout(weights.take)`.
   */
  static fromWeights(take: TakeWeight, config: ModifiedResNetConfig): ModifiedResNet {
    const { layers, width, outputDim, heads, inputResolution } = config;
    if (inputResolution % 32 !== 0) throw new RangeError(`ModifiedResNet: inputResolution ${inputResolution} is not a multiple of 32`);
    if (width % 2 !== 0) throw new RangeError(`ModifiedResNet: width ${width} must be even (the stem uses width/2)`);
    const half = width / 2;
    const conv1 = takeFoldedConv(take, "visual.conv1.weight", "visual.bn1", 3, half, 3, 2);
    const conv2 = takeFoldedConv(take, "visual.conv2.weight", "visual.bn2", half, half, 3);
    const conv3 = takeFoldedConv(take, "visual.conv3.weight", "visual.bn3", half, width, 3);

    // `_make_layer`: the first block carries the stride (and the downsample), the rest keep 4·planes channels.
    let inplanes = width;
    const makeLayer = (index: number, planes: number, blocks: number, stride: number): Bottleneck[] => {
      const result: Bottleneck[] = [];
      for (let b = 0; b < blocks; b++) {
        result.push(Bottleneck.fromWeights(take, `visual.layer${index}.${b}`, inplanes, planes, b === 0 ? stride : 1));
        inplanes = planes * Bottleneck.expansion;
      }
      return result;
    };
    const layer1 = makeLayer(1, width, layers[0], 1);
    const layer2 = makeLayer(2, width * 2, layers[1], 2);
    const layer3 = makeLayer(3, width * 4, layers[2], 2);
    const layer4 = makeLayer(4, width * 8, layers[3], 2);

    const attnpool = AttentionPool2d.fromWeights(take, "visual.attnpool", {
      spatialSize: inputResolution / 32,
      embedDim: width * 32,
      heads,
      outputDim,
    });
    const frozen = Object.freeze({ ...config, layers: [...layers] as ModifiedResNetConfig["layers"] });
    return new ModifiedResNet(frozen, conv1, conv2, conv3, layer1, layer2, layer3, layer4, attnpool);
  }

  /** images: [N, R, R, 3] normalised pixels (NHWC) → image features [N, outputDim]. */
  forward(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.run(images).imageFeatures);
  }

  /** `forward` keeping the output of the stem and of each layer (for debugging and parity checks). */
  forwardWithIntermediates(images: tf.Tensor4D): ModifiedResNetIntermediates {
    return tf.tidy(() => this.run(images));
  }

  private run(images: tf.Tensor4D): ModifiedResNetIntermediates {
    const r = this.config.inputResolution;
    if (images.rank !== 4 || images.shape[1] !== r || images.shape[2] !== r || images.shape[3] !== 3) {
      throw new RangeError(`ModifiedResNet: expected images [N, ${r}, ${r}, 3] (NHWC), got [${images.shape.join(", ")}]`);
    }
    let x = conv(images, this.conv1, "relu"); // [N, R/2, R/2, width/2]
    x = conv(x, this.conv2, "relu");
    x = conv(x, this.conv3, "relu"); // [N, R/2, R/2, width]
    const stem = avgPool(x, 2); // [N, R/4, R/4, width]
    const runLayer = (input: tf.Tensor4D, blocks: readonly Bottleneck[]): tf.Tensor4D =>
      blocks.reduce((h, block) => block.forward(h), input);
    const layer1 = runLayer(stem, this.layer1);
    const layer2 = runLayer(layer1, this.layer2);
    const layer3 = runLayer(layer2, this.layer3);
    const layer4 = runLayer(layer3, this.layer4);
    const imageFeatures = this.attnpool.forward(layer4);
    return { stem, layer1, layer2, layer3, layer4, imageFeatures };
  }

  dispose(): void {
    disposeConv(this.conv1);
    disposeConv(this.conv2);
    disposeConv(this.conv3);
    for (const block of [...this.layer1, ...this.layer2, ...this.layer3, ...this.layer4]) block.dispose();
    this.attnpool.dispose();
  }
}
