/**
 * The parameter-holding leaves (PyTorch `nn.Linear`, `nn.Conv2d`, `nn.GroupNorm`, `nn.LayerNorm`) as `Module`s whose
 * property names are the PyTorch ones (`weight`, `bias`), in tfjs layouts (see module.ts). Their forward passes call
 * `@proj/tensor-kernels` (`linear`, `groupNorm`, `layerNorm`) or `tf.conv2d` (NHWC).
 */
import * as tf from "@tensorflow/tfjs-core";
import { groupNorm, layerNorm, linear, type Activation } from "@proj/tensor-kernels";
import { Module, parameter } from "./module.js";

/** Epsilon of the diffusion U-Net's GroupNorm (guided-diffusion `GroupNorm32` uses PyTorch's default 1e-5). */
export const GROUP_NORM_EPSILON = 1e-5;
export const LAYER_NORM_EPSILON = 1e-5;

export interface LinearOptions {
  bias?: boolean;
  /** Start at zero (guided-diffusion `zero_module`). */
  zeroOutput?: boolean;
}

/** `nn.Linear`: weight [in, out], bias [out]; y = act(x·W + b). Default init U(±1/√in) as in PyTorch. */
export class Linear extends Module {
  readonly weight: tf.Variable; // [in, out]
  readonly bias: tf.Variable | undefined; // [out]

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    const bound = { kind: "uniform", bound: 1 / Math.sqrt(inFeatures) } as const;
    const zeroOutput = options.zeroOutput ?? false;
    this.weight = parameter([inFeatures, outFeatures], bound, { zeroOutput });
    this.bias = options.bias === false ? undefined : parameter([outFeatures], bound, { zeroOutput });
  }

  /** x: [..., in] → [..., out]. */
  forward<T extends tf.Tensor>(x: T, activation?: Activation): T {
    return linear(x, this.weight, this.bias ?? null, activation === undefined ? {} : { activation });
  }
}

export interface Conv2dOptions {
  kernelSize?: number;
  stride?: number;
  zeroOutput?: boolean;
}

/**
 * `nn.Conv2d` with "same" padding on NHWC: weight [k, k, in, out], bias [out]. With stride 2 on an even size, tfjs
 * pads one row/column at the bottom/right (PyTorch's `padding=1` pads both sides; the taps differ by one pixel, which
 * only matters for loading PyTorch weights).
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable; // [k, k, in, out]
  readonly bias: tf.Variable; // [out]
  readonly kernelSize: number;
  readonly stride: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    options: Conv2dOptions = {},
  ) {
    super();
    this.kernelSize = options.kernelSize ?? 3;
    this.stride = options.stride ?? 1;
    const fanIn = this.kernelSize * this.kernelSize * inChannels;
    const bound = { kind: "uniform", bound: 1 / Math.sqrt(fanIn) } as const;
    const zeroOutput = options.zeroOutput ?? false;
    this.weight = parameter([this.kernelSize, this.kernelSize, inChannels, outChannels], bound, { zeroOutput });
    this.bias = parameter([outChannels], bound, { zeroOutput });
  }

  /** x: [B, H, W, in] → [B, H/stride, W/stride, out]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      if (this.kernelSize === 1 && this.stride === 1) {
        return linear(x, tf.reshape(this.weight, [this.inChannels, this.outChannels]), this.bias); // a 1×1 conv is a matmul
      }
      return tf.add(tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, "same"), this.bias);
    });
  }
}

/** `nn.GroupNorm` (affine) on channels-last tensors, optionally fused with SiLU. */
export class GroupNorm extends Module {
  readonly weight: tf.Variable; // [C] γ
  readonly bias: tf.Variable; // [C] β

  constructor(
    readonly groups: number,
    readonly channels: number,
  ) {
    super();
    if (!Number.isInteger(groups) || groups <= 0 || channels % groups !== 0) {
      throw new RangeError(`GroupNorm: ${groups} groups do not divide ${channels} channels`);
    }
    this.weight = parameter([channels], { kind: "ones" });
    this.bias = parameter([channels], { kind: "zeros" });
  }

  /** x: [B, H, W, C] or [B, L, C] → same shape. */
  forward<T extends tf.Tensor>(x: T, activation?: "silu"): T {
    return groupNorm(x, this.weight, this.bias, { groups: this.groups, epsilon: GROUP_NORM_EPSILON, activation });
  }
}

/** `nn.LayerNorm` over the last axis. */
export class LayerNorm extends Module {
  readonly weight: tf.Variable; // [D] γ
  readonly bias: tf.Variable; // [D] β

  constructor(readonly width: number) {
    super();
    this.weight = parameter([width], { kind: "ones" });
    this.bias = parameter([width], { kind: "zeros" });
  }

  /** x: [..., D] → same shape. */
  forward<T extends tf.Tensor>(x: T): T {
    return layerNorm(x, this.weight, this.bias, { epsilon: LAYER_NORM_EPSILON });
  }
}

/** SiLU as a tfjs composition (x·σ(x)), for the places where no fused op precedes it. */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}
