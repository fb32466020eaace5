/**
 * Gradients of linear, y = act(z), z = x·W + b, with x flattened to [M, K] (M = the product of its leading dims):
 *   dz = dy ⊙ act'(z)            (dz = dy when there is no activation)
 *   dx = dz·Wᵀ                   [M, N]·[N, K] → reshaped to x's shape
 *   dW = xᵀ·dz                   [K, M]·[M, N]
 *   db = Σ_rows dz               [N]
 *
 * z is recomputed here (one more M·K·N matmul, about half the cost of the two gradient matmuls) rather than
 * saved by the forward kernel: saving it would keep an extra [M, N] tensor alive per layer from the forward pass to
 * the backward one (for CLIP ViT-B/32's MLP at batch 8 that is 400 × 3072 floats, 4.9 MB per layer, and more
 * again during inference, where no gradient is ever taken), and the kernel would need a second output. Without an
 * activation z is not needed at all and nothing is recomputed.
 *
 * Backends with an `ActivationGrad` kernel (native: one vectorised pass, `nativeActivationGrad`) recompute z with
 * the linear op itself (bias in the GEMM epilogue) and form dz = dy ⊙ act'(z) in that kernel; others compose
 * act'(z) from tfjs ops (about ten elementwise kernels and their temporaries). The kernel has no gradient of its
 * own, so a second derivative through an activated linear needs a backend without it.
 */
import { add, engine, matMul, mul, reshape, sum } from "@tensorflow/tfjs-core";
import type { GradConfig, NamedAttrMap, Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { activationDerivative, type Activation } from "./activations.js";
import { hasKernel } from "./dispatch.js";
import { linear, Linear, LinearNoBias, linearSizes, type LinearAttrs } from "./linear.js";

/** (dy, x) → dx = dy ⊙ act'(x), elementwise; dy and x of one shape, float32. */
export const ActivationGrad = "ProjActivationGrad";

export interface ActivationGradInputs {
  dy: TensorInfo;
  /** The pre-activation values. */
  x: TensorInfo;
}

export interface ActivationGradAttrs {
  activation: Activation;
}

function linearGradients(dy: Tensor, x: Tensor, weight: Tensor, bias: Tensor | undefined, attrs: NamedAttrMap) {
  const { activation } = attrs as unknown as LinearAttrs;
  const { rows, inFeatures, outFeatures } = linearSizes(x, weight);
  // These closures run inside the engine's gradient tidy.
  const x2 = reshape(x, [rows, inFeatures]); // [M, K]
  const dy2 = reshape(dy, [rows, outFeatures]); // [M, N]
  let dz = dy2;
  if (activation !== "none" && hasKernel(ActivationGrad)) {
    const z2 = linear(x2, weight, bias); // [M, N], bias fused
    const attrs: ActivationGradAttrs = { activation };
    dz = engine().runKernel<Tensor>(ActivationGrad, { dy: dy2, x: z2 }, { ...attrs });
  } else if (activation !== "none") {
    const z2 = matMul(x2, weight); // [M, N]
    dz = mul(dy2, activationDerivative(bias !== undefined ? add(z2, bias) : z2, activation));
  }
  return {
    x: () => reshape(matMul(dz, weight, false, true), x.shape),
    weight: () => matMul(x2, dz, true, false),
    bias: () => sum(dz, 0),
  };
}

export const linearGradConfig: GradConfig = {
  kernelName: Linear,
  inputsToSave: ["x", "weight", "bias"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, weight, bias] = saved as [Tensor, Tensor, Tensor];
    return linearGradients(dy as Tensor, x, weight, bias, attrs);
  },
};

export const linearNoBiasGradConfig: GradConfig = {
  kernelName: LinearNoBias,
  inputsToSave: ["x", "weight"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, weight] = saved as [Tensor, Tensor];
    const { x: dx, weight: dw } = linearGradients(dy as Tensor, x, weight, undefined, attrs);
    return { x: dx, weight: dw };
  },
};
