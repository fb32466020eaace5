/**
 * linear on `wasm`, in two steps on the backend's heap:
 *   1. wasm's own `BatchMatMul` — XNNPACK's GEMM — on 3-D views [1, M, K] × [1, K, N] with no transposes: the
 *      only case it runs at the GEMM rate (15–22 GFLOP/s measured, one thread); transposed or batched operands
 *      take a naive loop 10–40× slower. Not `_FusedMatMul` with the bias: measured slower than the plain matmul
 *      (median 111 vs 91 ms at [616, 512] × [512, 2048]), and it fuses none of our activations anyway;
 *   2. bias and activation in one pass in place over its output with our SIMD128 module
 *      (kernels/wasm-simd/linear-activation.wat, `biasActivate` / `activate`).
 *      A scalar JS pass was too slow: over the ~1.2 M outputs of CLIP's MLP at batch 8 it took ~25 ms for
 *      quickGelu/silu and ~100 ms for gelu beside an 80–120 ms matmul, where the composition's SIMD elementwise
 *      kernels take a few ms. With SIMD the kernel is as fast as the composition or slightly faster (the matmul
 *      dominates both).
 * The views share the inputs' data (no copy, no reference taken), and the output is the matmul's own buffer, so
 * nothing else is allocated.
 */
import { BatchMatMul } from "@tensorflow/tfjs-core";
import type { KernelBackend, KernelConfig, KernelFunc } from "@tensorflow/tfjs-core";
import type { Activation } from "../../ops/activations.js";
import { Linear, LinearNoBias, linearSizes, type LinearAttrs, type LinearInputs } from "../../ops/linear.js";
import { heapOffset, simdModule } from "../wasm-simd/instance.js";
import LINEAR_ACTIVATION_WASM from "../wasm-simd/linear-activation.generated.js";
import { asWasm, runWasmKernel, withShape } from "./wasm-heap.js";

interface LinearActivationSimd {
  /** z ← act(z) over `n` floats at byte offset `p`; `kind` as in ACTIVATION_KIND. */
  activate(p: number, n: number, kind: number): void;
  /** z ← act(z + bias) over rows × cols floats at `p`, bias at byte offset `b`; kind 0 adds the bias only. */
  biasActivate(p: number, rows: number, cols: number, b: number, kind: number): void;
  /** z ← (z + bias)·σ(α(z + bias)) (quickGelu α = 1.702, silu α = 1), exp inlined in the loop. */
  biasSigmoidGate(p: number, rows: number, cols: number, b: number, alpha: number): void;
}

const SIGMOID_GATE_ALPHA: Partial<Record<Activation, number>> = { quickGelu: 1.702, silu: 1 };

const ACTIVATION_KIND: Record<Activation, number> = { quickGelu: 1, gelu: 2, silu: 3 };

const linearWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, bias } = inputs as unknown as LinearInputs;
  const { activation } = attrs as unknown as LinearAttrs;
  const { rows, inFeatures, outFeatures, outShape } = linearSizes(x, weight);
  const a = withShape(x, [1, rows, inFeatures]);
  const b = withShape(weight, [1, inFeatures, outFeatures]);
  const z = runWasmKernel(BatchMatMul, asWasm(backend), { a, b }, { transposeA: false, transposeB: false });
  const kind = activation === "none" ? 0 : ACTIVATION_KIND[activation];
  if (bias !== undefined || kind !== 0) {
    const kb = backend as KernelBackend;
    const simd = simdModule<LinearActivationSimd>(kb, "linear-activation", LINEAR_ACTIVATION_WASM);
    const alpha = activation === "none" ? undefined : SIGMOID_GATE_ALPHA[activation];
    if (bias !== undefined && alpha !== undefined) simd.biasSigmoidGate(heapOffset(kb, z), rows, outFeatures, heapOffset(kb, bias), alpha);
    else if (bias !== undefined) simd.biasActivate(heapOffset(kb, z), rows, outFeatures, heapOffset(kb, bias), kind);
    else simd.activate(heapOffset(kb, z), rows * outFeatures, kind);
  }
  return withShape(z, outShape);
};

export const linearWasmConfig: KernelConfig = { kernelName: Linear, backendName: "wasm", kernelFunc: linearWasm };
export const linearNoBiasWasmConfig: KernelConfig = { kernelName: LinearNoBias, backendName: "wasm", kernelFunc: linearWasm };
