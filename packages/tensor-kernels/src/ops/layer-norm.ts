/**
 * layerNorm(x, gamma, beta, { epsilon }) over the last axis (Ba et al. 2016; PyTorch `nn.LayerNorm`):
 *   y = (x − mean) / √(var + ε) · γ + β,   mean and biased variance over the last axis.
 * x: [..., C]; gamma, beta: [C]; y: like x.
 */
import { mean, reshape, rsqrt, sub, add, mul, square, tidy } from "@tensorflow/tfjs-core";
import type { Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { assertFloat, assertPositiveFinite, assertRank, assertShape, assertTensor } from "./checks.js";
import { runOrCompose } from "./dispatch.js";

export const LayerNorm = "ProjLayerNorm";

export interface LayerNormInputs {
  x: TensorInfo;
  gamma: TensorInfo;
  beta: TensorInfo;
}

export interface LayerNormAttrs {
  /** Added to the variance; PyTorch's and CLIP's default is 1e-5. */
  epsilon: number;
}

export interface LayerNormOptions {
  epsilon?: number;
}

export function layerNorm<T extends Tensor>(x: T, gamma: Tensor, beta: Tensor, options: LayerNormOptions = {}): T {
  const op = "layerNorm";
  const epsilon = options.epsilon ?? 1e-5;
  assertTensor(op, "x", x);
  assertTensor(op, "gamma", gamma);
  assertTensor(op, "beta", beta);
  assertRank(op, "x", x, { min: 1 });
  for (const [name, t] of [["x", x], ["gamma", gamma], ["beta", beta]] as const) assertFloat(op, name, t);
  const channels = x.shape[x.rank - 1]!;
  assertShape(op, "gamma", gamma, [channels], " (the last axis of x)");
  assertShape(op, "beta", beta, [channels], " (the last axis of x)");
  assertPositiveFinite(op, "epsilon", epsilon);
  const attrs: LayerNormAttrs = { epsilon };
  return runOrCompose(LayerNorm, { x, gamma, beta }, { ...attrs }, () =>
    layerNormReference(x, gamma, beta, epsilon),
  ) as T;
}

/** The plain tfjs composition: the fallback on backends without the kernel, and the reference in tests. */
export function layerNormReference(x: Tensor, gamma: Tensor, beta: Tensor, epsilon: number): Tensor {
  return tidy(() => {
    const axis = x.rank - 1;
    const mu = mean(x, axis, true); // [..., 1]
    const centred = sub(x, mu); // [..., C]
    const variance = mean(square(centred), axis, true); // [..., 1]
    const normalised = mul(centred, rsqrt(add(variance, epsilon)));
    return add(mul(normalised, reshape(gamma, [gamma.size])), beta);
  });
}
