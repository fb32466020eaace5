/**
 * linear on `wasm`, in two steps on the backend's heap:
 *   1. wasm's own `_FusedMatMul` — XNNPACK's GEMM, which adds the bias in its epilogue — on 3-D views
 *      [1, M, K] × [1, K, N] with no transposes: the only case it runs at the GEMM rate (15–22 GFLOP/s measured,
 *      one thread); transposed or batched operands take a naive loop 10–40× slower. It fuses only linear/relu/
 *      relu6/prelu/leakyrelu/sigmoid/elu, none of ours, so it runs with `activation: "linear"`;
 *   2. the activation in place over its output with our SIMD128 module (kernels/wasm-simd/linear-activation.wat).
 *      A scalar JS pass was too slow: over the ~1.2 M outputs of CLIP's MLP at batch 8 it took ~25 ms for
 *      quickGelu/silu and ~100 ms for gelu beside an 80–120 ms matmul, where the composition's SIMD elementwise
 *      kernels take a few ms. With SIMD the kernel is as fast as the composition or slightly faster (the matmul
 *      dominates both).
 * The views share the inputs' data (no copy, no reference taken), and the output is the matmul's own buffer, so
 * nothing else is allocated.
 */
import { _FusedMatMul } from "@tensorflow/tfjs-core";
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import type { Activation } from "../../ops/activations.js";
import { Linear, LinearNoBias, linearSizes, type LinearAttrs, type LinearInputs } from "../../ops/linear.js";
import { heapOffset, simdModule } from "../wasm-simd/instance.js";
import LINEAR_ACTIVATION_WASM from "../wasm-simd/linear-activation.generated.js";
import { asWasm, runWasmKernel, withShape } from "./wasm-heap.js";

interface LinearActivationSimd {
  /** z ← act(z) over `n` floats at byte offset `p`; `kind` as in ACTIVATION_KIND. */
  activate(p: number, n: number, kind: number): void;
}

const ACTIVATION_KIND: Record<Activation, number> = { quickGelu: 1, gelu: 2, silu: 3 };

const linearWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, bias } = inputs as unknown as LinearInputs;
  const { activation } = attrs as unknown as LinearAttrs;
  const { rows, inFeatures, outFeatures, outShape } = linearSizes(x, weight);
  const a = withShape(x, [1, rows, inFeatures]);
  const b = withShape(weight, [1, inFeatures, outFeatures]);
  const matMulInputs: Record<string, TensorInfo> = bias !== undefined ? { a, b, bias } : { a, b };
  const z = runWasmKernel(_FusedMatMul, asWasm(backend), matMulInputs, { transposeA: false, transposeB: false, activation: "linear" });
  if (activation !== "none") {
    const simd = simdModule<LinearActivationSimd>(backend as KernelBackend, "linear-activation", LINEAR_ACTIVATION_WASM);
    simd.activate(heapOffset(backend as KernelBackend, z), rows * outFeatures, ACTIVATION_KIND[activation]);
  }
  return withShape(z, outShape);
};

export const linearWasmConfig: KernelConfig = { kernelName: Linear, backendName: "wasm", kernelFunc: linearWasm };
export const linearNoBiasWasmConfig: KernelConfig = { kernelName: LinearNoBias, backendName: "wasm", kernelFunc: linearWasm };
