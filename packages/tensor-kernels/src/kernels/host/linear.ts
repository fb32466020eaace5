/**
 * linear's epilogue on host memory: z ← act(z + b) in place over z [M, N] (row-major), bias [N] or null. One tight
 * loop per activation, so the activation is not dispatched per element.
 */
import { geluScalar, quickGeluScalar, siluScalar } from "../../ops/activations.js";
import type { LinearActivation } from "../../ops/linear.js";

export function linearEpilogueHost(z: Float32Array, bias: Float32Array | null, outFeatures: number, activation: LinearActivation): void {
  if (bias === null) {
    activateInPlace(z, activation);
    return;
  }
  const n = outFeatures;
  const size = z.length;
  switch (activation) {
    case "none":
      for (let row = 0; row < size; row += n) for (let c = 0; c < n; c++) z[row + c] = z[row + c]! + bias[c]!;
      return;
    case "quickGelu":
      for (let row = 0; row < size; row += n) for (let c = 0; c < n; c++) z[row + c] = quickGeluScalar(z[row + c]! + bias[c]!);
      return;
    case "gelu":
      for (let row = 0; row < size; row += n) for (let c = 0; c < n; c++) z[row + c] = geluScalar(z[row + c]! + bias[c]!);
      return;
    case "silu":
      for (let row = 0; row < size; row += n) for (let c = 0; c < n; c++) z[row + c] = siluScalar(z[row + c]! + bias[c]!);
      return;
  }
}

/** z ← act(z) in place (no bias: wasm's matmul already added it, or there is none). */
export function activateInPlace(z: Float32Array, activation: LinearActivation): void {
  const size = z.length;
  switch (activation) {
    case "none":
      return;
    case "quickGelu":
      for (let i = 0; i < size; i++) z[i] = quickGeluScalar(z[i]!);
      return;
    case "gelu":
      for (let i = 0; i < size; i++) z[i] = geluScalar(z[i]!);
      return;
    case "silu":
      for (let i = 0; i < size; i++) z[i] = siluScalar(z[i]!);
      return;
  }
}
