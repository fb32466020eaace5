/**
 * linear(x, weight, bias, { activation }): a dense layer with the bias and activation fused into the matmul's
 * epilogue,
 *   y = act(x·W + b),   x: [..., in], W: [in, out], b: [out] or none, y: [..., out].
 * W is stored [in, out] (our checkpoint loaders transpose PyTorch `nn.Linear`'s [out, in] weight once), so no
 * kernel transposes anything. A rank-1 x is one row. `activation` is one of `ACTIVATIONS` (activations.ts) or
 * undefined for none.
 *
 * Two kernel names, one per input signature: `Linear` (x, weight, bias) and `LinearNoBias` (x, weight). tfjs saves
 * the inputs a gradient needs by name (`inputsToSave`), and an absent optional input cannot be saved, so an
 * optional `bias` under one name would break `tf.grad` whenever it is left out.
 */
import { add, matMul, reshape, tidy, zeros } from "@tensorflow/tfjs-core";
import type { Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { ACTIVATIONS, applyActivation, isActivation, type Activation } from "./activations.js";
import { assertFloat, assertRank, assertShape, assertTensor } from "./checks.js";
import { runOrCompose } from "./dispatch.js";

export const Linear = "ProjLinear";
export const LinearNoBias = "ProjLinearNoBias";

export interface LinearInputs {
  /** [..., in] */
  x: TensorInfo;
  /** [in, out] */
  weight: TensorInfo;
  /** [out]; absent under `LinearNoBias`. */
  bias?: TensorInfo;
}

/** The activation applied in the epilogue; `"none"` when the caller gave none. */
export type LinearActivation = Activation | "none";

export interface LinearAttrs {
  activation: LinearActivation;
}

export interface LinearOptions {
  /** Applied to x·W + b; undefined for none. */
  activation?: Activation;
}

/** Sizes of a linear call: M rows (x's leading dims flattened), K input and N output features. */
export interface LinearSizes {
  rows: number;
  inFeatures: number;
  outFeatures: number;
  /** [..., N]: x's shape with the last axis replaced by N. */
  outShape: number[];
}

export function linearSizes(x: { shape: readonly number[] }, weight: { shape: readonly number[] }): LinearSizes {
  const inFeatures = weight.shape[0]!;
  const outFeatures = weight.shape[1]!;
  const lead = x.shape.slice(0, -1);
  return { rows: lead.reduce((a, b) => a * b, 1), inFeatures, outFeatures, outShape: [...lead, outFeatures] };
}

export function linear<T extends Tensor>(x: T, weight: Tensor, bias?: Tensor | null, options: LinearOptions = {}): T {
  const op = "linear";
  assertTensor(op, "x", x);
  assertTensor(op, "weight", weight);
  if (bias != null) assertTensor(op, "bias", bias);
  assertRank(op, "x", x, { min: 1 });
  assertRank(op, "weight", weight, 2);
  assertFloat(op, "x", x);
  assertFloat(op, "weight", weight);
  if (bias != null) assertFloat(op, "bias", bias);
  const inFeatures = x.shape[x.rank - 1]!;
  if (weight.shape[0] !== inFeatures) {
    throw new RangeError(`${op}: x has ${inFeatures} input features but weight is [${weight.shape.join(", ")}]`);
  }
  if (bias != null) assertShape(op, "bias", bias, [weight.shape[1]!], " (the output features of weight)");
  const activation = options.activation;
  if (activation !== undefined && !isActivation(activation)) {
    throw new RangeError(
      `${op}: activation must be one of ${ACTIVATIONS.map((a) => `"${a}"`).join(", ")} or undefined (none), got ${JSON.stringify(activation)}`,
    );
  }
  const attrs: LinearAttrs = { activation: activation ?? "none" };
  const compose = () => linearReference(x, weight, bias, activation);
  // Empty operands (M, K or N of 0) take the composition: tfjs handles them, and a kernel would bind empty buffers.
  if (x.size === 0 || weight.size === 0) return compose() as T;
  const y = bias != null
    ? runOrCompose(Linear, { x, weight, bias }, { ...attrs }, compose)
    : runOrCompose(LinearNoBias, { x, weight }, { ...attrs }, compose);
  return y as T;
}

/** The plain tfjs composition: the fallback on backends without the kernel, and the reference in tests. */
export function linearReference(x: Tensor, weight: Tensor, bias?: Tensor | null, activation?: Activation): Tensor {
  return tidy(() => {
    const { rows, inFeatures, outFeatures, outShape } = linearSizes(x, weight);
    // K = 0: an empty sum (tfjs's webgpu matMul binds the empty buffers and fails).
    const z2 = inFeatures === 0 ? zeros([rows, outFeatures]) : matMul(reshape(x, [rows, inFeatures]), weight); // [M, N]
    const z = bias != null ? add(z2, bias) : z2;
    return reshape(applyActivation(z, activation ?? "none"), outShape);
  });
}
