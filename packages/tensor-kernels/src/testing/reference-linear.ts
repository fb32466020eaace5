/** Plain float64 loop reference of linear, for the conformance suite. Arrays are row-major. */
import { activationScalar } from "../ops/activations.js";
import type { LinearActivation } from "../ops/linear.js";

/** act(x·W + b) for x [M, K], W [K, N], b [N] or null, accumulated in float64. */
export function linearF64(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  inFeatures: number,
  outFeatures: number,
  activation: LinearActivation,
): Float64Array {
  const rows = x.length / inFeatures;
  const act = activationScalar(activation);
  const out = new Float64Array(rows * outFeatures);
  const acc = new Float64Array(outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < outFeatures; c++) acc[c] = bias === null ? 0 : bias[c]!;
    for (let k = 0; k < inFeatures; k++) {
      const xv = x[r * inFeatures + k]!;
      for (let c = 0; c < outFeatures; c++) acc[c] = acc[c]! + xv * weight[k * outFeatures + c]!;
    }
    for (let c = 0; c < outFeatures; c++) out[r * outFeatures + c] = act(acc[c]!);
  }
  return out;
}
