/**
 * linear on `wasm`, on the backend's heap with our SIMD128 modules (kernels/wasm-simd/):
 *   1. gemm.wat: x packed into row tiles of 4 and W into column panels of 8 (two scratch buffers, freed before
 *      returning; one pass over each operand), then a 4×8 register-tiled GEMM whose accumulators start at the
 *      bias, so a bias costs no extra pass;
 *   2. the activation, if any, in one pass in place over the output (linear-activation.wat): `biasSigmoidGate`
 *      (quickGelu/silu, with the bias added there rather than in the GEMM: exp inlined, no per-vector dispatch) or
 *      `activate`. A scalar JS pass was too slow (~25 ms for quickGelu over CLIP's MLP at batch 8).
 *
 * Measured (Node 20, one thread, 2-vCPU Zen 5 VM shared with other users; GFLOP/s, median of 7–9):
 *
 *   shape [M, K] × [K, N]        wasm BatchMatMul (XNNPACK)   gemm.wat (packed operands, quiet)   this kernel
 *   [400, 768] × [768, 3072]               22–24                          ~39                       1.25–1.55×
 *   [400, 3072] × [3072, 768]              21–24                          ~39                       BatchMatMul
 *   512³                                   22–23                          —                         (interleaved)
 *
 * The last column compares `linear` (both packs and the epilogue included) with `tf.matMul` interleaved in one
 * process at load average 2–5; the GEMM alone measured 32.6 GFLOP/s on the tfjs heap at load average ~2.
 * The earlier version called wasm's own BatchMatMul (XNNPACK, [1, M, K] × [1, K, N]) and added the bias after;
 * the loop variants tried for gemm.wat, and why XNNPACK's wasm GEMM is slower under V8, are in its header. Packing
 * W costs ~2.3 ms per call at CLIP's c_fc (~4% of its GEMM); nothing is cached between calls: a cache of packed
 * weights would need freeing when a weight is disposed and would double the weights' heap.
 */
import type { KernelBackend, KernelConfig, KernelFunc } from "@tensorflow/tfjs-core";
import type { Activation } from "../../ops/activations.js";
import { Linear, LinearNoBias, linearSizes, type LinearAttrs, type LinearInputs } from "../../ops/linear.js";
import GEMM_WASM from "../wasm-simd/gemm.generated.js";
import { heapOffset, simdModule } from "../wasm-simd/instance.js";
import LINEAR_ACTIVATION_WASM from "../wasm-simd/linear-activation.generated.js";
import { asWasm, f32, Intermediates, makeResident } from "./wasm-heap.js";

/** The exports of ../wasm-simd/gemm.wat; pointers are byte offsets into the heap. */
export interface GemmSimd {
  /** B [k, n] → column panels of 8 at `packed` ([⌈n/8⌉][k][8] floats, zero-padded; `packedColumnsSize`). */
  pack(b: number, k: number, n: number, packed: number): void;
  /** The same from Bᵀ [n, k], each value times `scale`. */
  packTransposed(bt: number, k: number, n: number, packed: number, scale: number): void;
  /** A [m, k] → row tiles of 4 at `packed` ([⌈m/4⌉][k][4] floats, zero rows past m; `packedRowsSize`). */
  packRows(a: number, m: number, k: number, packed: number): void;
  /** C [m, n] = packed A × packed B (+ bias [n] when hasBias is 1); k, m, n ≥ 1. */
  gemm(packedA: number, packedB: number, c: number, m: number, k: number, n: number, bias: number, hasBias: number): void;
}

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

/** Floats of B [k, n] packed into column panels of 8. */
export const packedColumnsSize = (k: number, n: number): number => Math.ceil(n / 8) * 8 * k;

/** Floats of A [m, k] packed into row tiles of 4. */
export const packedRowsSize = (m: number, k: number): number => Math.ceil(m / 4) * 4 * k;

const linearWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, bias } = inputs as unknown as LinearInputs;
  const { activation } = attrs as unknown as LinearAttrs;
  const { rows, inFeatures, outFeatures, outShape } = linearSizes(x, weight);
  const wasm = asWasm(backend);
  const kb = backend as KernelBackend;
  makeResident(wasm, x, weight, bias);
  const z = wasm.makeOutput(outShape, "float32");
  if (rows === 0 || outFeatures === 0) return z;
  const alpha = activation === "none" ? undefined : SIGMOID_GATE_ALPHA[activation];
  const biasInGemm = bias !== undefined && alpha === undefined; // quickGelu/silu add it in their own pass
  if (inFeatures === 0) {
    f32(wasm, z).fill(0); // an empty sum (the op sends empty operands to its composition; kept correct anyway)
  } else {
    const scratch = new Intermediates(wasm);
    try {
      const packedA = heapOffset(kb, scratch.alloc([packedRowsSize(rows, inFeatures)]));
      const packedB = heapOffset(kb, scratch.alloc([packedColumnsSize(inFeatures, outFeatures)]));
      const gemm = simdModule<GemmSimd>(kb, "gemm", GEMM_WASM);
      gemm.packRows(heapOffset(kb, x), rows, inFeatures, packedA);
      gemm.pack(heapOffset(kb, weight), inFeatures, outFeatures, packedB);
      const biasOffset = biasInGemm ? heapOffset(kb, bias) : 0;
      gemm.gemm(packedA, packedB, heapOffset(kb, z), rows, inFeatures, outFeatures, biasOffset, biasInGemm ? 1 : 0);
    } finally {
      scratch.dispose();
    }
  }
  const kind = activation === "none" ? 0 : ACTIVATION_KIND[activation];
  const biasLeft = bias !== undefined && (!biasInGemm || inFeatures === 0);
  if (biasLeft || kind !== 0) {
    const simd = simdModule<LinearActivationSimd>(kb, "linear-activation", LINEAR_ACTIVATION_WASM);
    if (biasLeft && alpha !== undefined) simd.biasSigmoidGate(heapOffset(kb, z), rows, outFeatures, heapOffset(kb, bias!), alpha);
    else if (biasLeft) simd.biasActivate(heapOffset(kb, z), rows, outFeatures, heapOffset(kb, bias!), kind);
    else simd.activate(heapOffset(kb, z), rows * outFeatures, kind);
  }
  return z;
};

export const linearWasmConfig: KernelConfig = { kernelName: Linear, backendName: "wasm", kernelFunc: linearWasm };
export const linearNoBiasWasmConfig: KernelConfig = { kernelName: LinearNoBias, backendName: "wasm", kernelFunc: linearWasm };
