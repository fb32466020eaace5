/**
 * groupNorm(x, gamma, beta, { groups, epsilon, activation }) on channels-last tensors (Wu & He 2018; PyTorch
 * `nn.GroupNorm`, here on NHWC), optionally fused with SiLU as in the diffusion U-Net's ResNet blocks:
 *   per sample n and group g (channels g·C/G … (g+1)·C/G − 1), μ and the biased σ² over H, W and the group's channels,
 *   y = (x − μ) / √(σ² + ε) · γ_c + β_c,   then y·sigmoid(y) when activation is "silu".
 * x: [N, H, W, C] (or [N, L, C] for sequences); gamma, beta: [C]; y: like x.
 */
import { add, mean, mul, reshape, rsqrt, sigmoid, square, sub, tidy } from "@tensorflow/tfjs-core";
import type { Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { assertFloat, assertPositiveFinite, assertShape, assertTensor } from "./checks.js";
import { runOrCompose } from "./dispatch.js";

export const GroupNorm = "ProjGroupNorm";

/** Activations that can be fused after the affine; `undefined` in the options means none. */
export type GroupNormActivation = "silu";

export interface GroupNormInputs {
  x: TensorInfo;
  gamma: TensorInfo;
  beta: TensorInfo;
}

export interface GroupNormAttrs {
  /** Number of channel groups G; divides C. */
  groups: number;
  /** Added to the variance; PyTorch's default is 1e-5 (many diffusion U-Nets use 1e-6). */
  epsilon: number;
  activation: GroupNormActivation | "none";
}

export interface GroupNormOptions {
  groups: number;
  epsilon?: number;
  activation?: GroupNormActivation;
}

const ACTIVATIONS: readonly string[] = ["silu"];

export function groupNorm<T extends Tensor>(x: T, gamma: Tensor, beta: Tensor, options: GroupNormOptions): T {
  const op = "groupNorm";
  assertTensor(op, "x", x);
  assertTensor(op, "gamma", gamma);
  assertTensor(op, "beta", beta);
  if (x.rank !== 4 && x.rank !== 3) {
    throw new RangeError(`${op}: x must have rank 4 ([N, H, W, C]) or 3 ([N, L, C]), got shape [${x.shape.join(", ")}]`);
  }
  for (const [name, t] of [["x", x], ["gamma", gamma], ["beta", beta]] as const) assertFloat(op, name, t);
  const channels = x.shape[x.rank - 1]!;
  assertShape(op, "gamma", gamma, [channels], " (the channel axis of x)");
  assertShape(op, "beta", beta, [channels], " (the channel axis of x)");
  const { groups, epsilon = 1e-5, activation } = options ?? ({} as GroupNormOptions);
  if (!Number.isInteger(groups) || groups <= 0) {
    throw new RangeError(`${op}: groups must be a positive integer, got ${String(groups)}`);
  }
  if (channels % groups !== 0) throw new RangeError(`${op}: groups (${groups}) must divide the channel count ${channels}`);
  assertPositiveFinite(op, "epsilon", epsilon);
  if (activation !== undefined && !ACTIVATIONS.includes(activation)) {
    throw new RangeError(`${op}: activation must be "silu" or undefined, got ${JSON.stringify(activation)}`);
  }
  const attrs: GroupNormAttrs = { groups, epsilon, activation: activation ?? "none" };
  return runOrCompose(GroupNorm, { x, gamma, beta }, { ...attrs }, () =>
    groupNormReference(x, gamma, beta, { groups, epsilon, activation }),
  ) as T;
}

/**
 * x [N, …, C] viewed as [N, S, G, C/G] (S: the spatial or sequence positions). A reshape, no copy: the group's
 * elements are axes 1 and 3, reduced by `groupMean`.
 */
export function groupView(x: Tensor, groups: number): Tensor {
  const channels = x.shape[x.rank - 1]!;
  const positions = x.shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return reshape(x, [x.shape[0]!, positions, groups, channels / groups]);
}

/** Mean over each (sample, group) of a `groupView`: [N, S, G, Cg] → [N, 1, G, 1]. */
export function groupMean(t: Tensor): Tensor {
  // tfjs reduces non-trailing axes by transposing to [N, G, S, Cg] first: a rank-4 transpose, which is fast on
  // wasm (rank-5 transposes of the [N, H, W, G, Cg] layout are not).
  return mean(t, [1, 3], true);
}

/** Normalised x̂ and the reciprocal std r = 1/√(σ² + ε) in the [N, S, G, Cg] view (shared with the gradient). */
export function groupNormParts(x: Tensor, groups: number, epsilon: number): { xHat: Tensor; r: Tensor } {
  const xg = groupView(x, groups); // [N, S, G, Cg]
  const centred = sub(xg, groupMean(xg));
  const r = rsqrt(add(groupMean(square(centred)), epsilon)); // [N, 1, G, 1]
  return { xHat: mul(centred, r), r };
}

/**
 * The plain tfjs composition (same call shape as `groupNorm`, no checks): the fallback on backends without the
 * kernel, and the reference for the gradient tests.
 */
export function groupNormReference(x: Tensor, gamma: Tensor, beta: Tensor, options: GroupNormOptions): Tensor {
  return tidy(() => {
    const { xHat } = groupNormParts(x, options.groups, options.epsilon ?? 1e-5);
    const y = add(mul(reshape(xHat, x.shape), gamma), beta); // [N, …, C]
    return options.activation === "silu" ? mul(y, sigmoid(y)) : y;
  });
}
