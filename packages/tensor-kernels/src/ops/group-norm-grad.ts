/**
 * Gradient of groupNorm (+ SiLU). In the [N, S, G, Cg] view, with x̂ = (x − μ)·r, r = 1/√(σ² + ε) per (sample, group)
 * and z = x̂·γ + β the pre-activation output:
 *   dz = dy                                  without activation,
 *   dz = dy · σ(z)·(1 + z·(1 − σ(z)))        with SiLU (the derivative of z·σ(z));
 *   dβ = Σ_{n, s} dz,   dγ = Σ_{n, s} dz·x̂   (per channel),
 *   dx = r · (g − mean(g) − x̂ · mean(g·x̂)),   g = dz·γ   (means over each group's S·Cg elements),
 * the layerNorm formula with the mean taken over the group instead of the row.
 * Backends with a `GroupNormGrad` kernel (cpu, wasm: two sweeps over x on the host) compute all three in one
 * kernel; others (webgpu) run these formulas as tfjs ops.
 */
import { add, engine, mul, reshape, sigmoid, sub, sum } from "@tensorflow/tfjs-core";
import type { GradConfig, NamedAttrMap, Tensor, TensorInfo } from "@tensorflow/tfjs-core";
import { hasKernel } from "./dispatch.js";
import { GroupNorm, groupMean, groupNormParts, groupView, type GroupNormAttrs } from "./group-norm.js";

/** (dy, x, gamma, beta) → [dx, dgamma, dbeta]; attrs as GroupNorm's. */
export const GroupNormGrad = "ProjGroupNormGrad";

export interface GroupNormGradInputs {
  dy: TensorInfo;
  x: TensorInfo;
  gamma: TensorInfo;
  beta: TensorInfo;
}

export const groupNormGradConfig: GradConfig = {
  kernelName: GroupNorm,
  inputsToSave: ["x", "gamma", "beta"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, gamma, beta] = saved as [Tensor, Tensor, Tensor];
    // These run inside the engine's gradient tidy, which disposes whatever is not returned.
    if (hasKernel(GroupNormGrad)) {
      const inputs = { dy: dy as Tensor, x, gamma, beta };
      const [dx, dgamma, dbeta] = engine().runKernel(GroupNormGrad, inputs, attrs) as Tensor[];
      return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
    }
    const { groups, epsilon, activation } = attrs as unknown as GroupNormAttrs;
    const channels = x.shape[x.rank - 1]!;
    const rows = x.size / channels;
    const { xHat, r } = groupNormParts(x, groups, epsilon); // [N, S, G, Cg], [N, 1, G, 1]
    const xHatFlat = reshape(xHat, x.shape); // [N, …, C]
    let dz = dy as Tensor;
    if (activation === "silu") {
      const z = add(mul(xHatFlat, gamma), beta);
      const s = sigmoid(z);
      dz = mul(dz, mul(s, add(1, mul(z, sub(1, s)))));
    }
    return {
      x: () => {
        const g = groupView(mul(dz, gamma), groups);
        const dx = mul(r, sub(sub(g, groupMean(g)), mul(xHat, groupMean(mul(g, xHat)))));
        return reshape(dx, x.shape);
      },
      gamma: () => sum(reshape(mul(dz, xHatFlat), [rows, channels]), 0),
      beta: () => sum(reshape(dz, [rows, channels]), 0),
    };
  },
};
