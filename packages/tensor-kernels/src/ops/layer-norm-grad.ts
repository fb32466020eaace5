/**
 * Gradient of layerNorm. With x̂ = (x − mean)·r, r = 1/√(var + ε), over the last axis of C channels:
 *   dβ = Σ_rows dy,   dγ = Σ_rows dy·x̂,
 *   dx = r · (g − mean(g) − x̂ · mean(g·x̂)),   g = dy·γ   (means over the last axis).
 */
import { add, mean, mul, reshape, rsqrt, square, sub, sum } from "@tensorflow/tfjs-core";
import type { GradConfig, NamedAttrMap, Tensor } from "@tensorflow/tfjs-core";
import { LayerNorm, type LayerNormAttrs } from "./layer-norm.js";

export const layerNormGradConfig: GradConfig = {
  kernelName: LayerNorm,
  inputsToSave: ["x", "gamma", "beta"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, gamma] = saved as [Tensor, Tensor];
    const { epsilon } = attrs as unknown as LayerNormAttrs;
    const grad = dy as Tensor;
    const axis = x.rank - 1;
    const channels = x.shape[axis]!;
    const rows = x.size / channels;
    // These closures run inside the engine's gradient tidy.
    const mu = mean(x, axis, true);
    const centred = sub(x, mu);
    const r = rsqrt(add(mean(square(centred), axis, true), epsilon));
    const xHat = mul(centred, r);
    return {
      x: () => {
        const g = mul(grad, gamma);
        return mul(r, sub(sub(g, mean(g, axis, true)), mul(xHat, mean(mul(g, xHat), axis, true))));
      },
      gamma: () => sum(reshape(mul(grad, xHat), [rows, channels]), 0),
      beta: () => sum(reshape(grad, [rows, channels]), 0),
    };
  },
};
