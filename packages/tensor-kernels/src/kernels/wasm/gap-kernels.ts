/**
 * Kernels that fill tfjs-backend-wasm's training gaps (tfjs 4.22; measurements in README.md beside this file):
 *
 *   Conv2DBackpropFilter  missing            → im2col on the heap + plain wasm GEMM      (conv2d-backprop-filter.ts)
 *   UnsortedSegmentSum    missing            → one JS pass on the heap (gather's grad)  (unsorted-segment-sum.ts)
 *   Conv2DBackpropInput   naive direct loop  → plain wasm GEMM + col2im on the heap     (conv2d-backprop-input.ts)
 *   BatchMatMul           naive when transposed or batched → transposes materialised, batch folded (batch-mat-mul.ts)
 *   _FusedMatMul          same, and its naive loop adds the bias wrongly → bias applied after (batch-mat-mul.ts)
 *
 * The last three REPLACE wasm's own kernels and call them for the plain case, so they can only be installed by
 * `registerWasmGapKernels()`, which saves each original before unregistering it; registering these configs with
 * `registerKernel` directly would lose the original (the wrappers then throw). Import
 * `@tensorflow/tfjs-backend-wasm` (which registers its kernels) before calling it.
 */
import {
  _FusedMatMul,
  BatchMatMul,
  Conv2DBackpropInput,
  getKernel,
  registerKernel,
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import type { Conv2DBackpropInputAttrs, KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { fusedMatMul, matMulWithoutTransposes } from "./batch-mat-mul.js";
import { conv2dBackpropFilterWasmConfig } from "./conv2d-backprop-filter.js";
import { conv2dBackpropInput } from "./conv2d-backprop-input.js";
import { unsortedSegmentSumWasmConfig } from "./unsorted-segment-sum.js";
import { asWasm, type WasmBackend } from "./wasm-heap.js";

/** wasm's own configs that our wrappers replaced, by kernel name; filled by `registerWasmGapKernels`. */
const originals = new Map<string, KernelConfig>();

type OverrideBody = (original: KernelConfig, backend: WasmBackend, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap) => TensorInfo;

/** A config that replaces wasm's `kernelName` and delegates to the saved original (setup and dispose included). */
function overrideConfig(kernelName: string, body: OverrideBody): KernelConfig {
  return {
    kernelName,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const original = originals.get(kernelName);
      if (original === undefined) {
        throw new Error(`${kernelName} on wasm: the original kernel was not saved; install with registerWasmGapKernels(), not registerKernel`);
      }
      return body(original, asWasm(backend), inputs as Record<string, TensorInfo>, attrs ?? {});
    },
    setupFunc: (backend) => originals.get(kernelName)?.setupFunc?.(backend),
    disposeFunc: (backend) => originals.get(kernelName)?.disposeFunc?.(backend),
  };
}

export const batchMatMulWasmOverride = overrideConfig(BatchMatMul, (original, backend, inputs, attrs) =>
  matMulWithoutTransposes(original, backend, inputs, attrs, false),
);

export const fusedMatMulWasmOverride = overrideConfig(_FusedMatMul, fusedMatMul);

export const conv2dBackpropInputWasmOverride = overrideConfig(Conv2DBackpropInput, (original, backend, inputs, attrs) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const convAttrs = attrs as unknown as Conv2DBackpropInputAttrs;
  if (convAttrs.dataFormat !== "NHWC" || dy.dtype !== "float32" || filter.dtype !== "float32") {
    return original.kernelFunc({ inputs, backend, attrs }) as TensorInfo; // NCHW: wasm's own loop handles it
  }
  return conv2dBackpropInput(backend, dy, filter, convAttrs);
});

/** Every config, new kernels first; the overrides must go through `registerWasmGapKernels`. */
export const WASM_GAP_KERNEL_CONFIGS: readonly KernelConfig[] = [
  // new kernels
  conv2dBackpropFilterWasmConfig,
  unsortedSegmentSumWasmConfig,
  // replacements of wasm's own kernels
  batchMatMulWasmOverride,
  fusedMatMulWasmOverride,
  conv2dBackpropInputWasmOverride,
];

const OVERRIDES: ReadonlySet<KernelConfig> = new Set([batchMatMulWasmOverride, fusedMatMulWasmOverride, conv2dBackpropInputWasmOverride]);

export interface WasmGapRegistration {
  /** Kernels served by this package on wasm after the call (whether installed now or by an earlier call). */
  active: string[];
  /** Kernels left alone, each with the reason. */
  skipped: string[];
}

/**
 * Installs the gap kernels for the `wasm` backend. Idempotent: a second call finds our configs in place and changes
 * nothing (nothing is wrapped twice). A new kernel is only added where wasm has none; a replacement only where
 * wasm's original is registered (so import `@tensorflow/tfjs-backend-wasm` first).
 */
export function registerWasmGapKernels(): WasmGapRegistration {
  const result: WasmGapRegistration = { active: [], skipped: [] };
  for (const config of WASM_GAP_KERNEL_CONFIGS) {
    const name = config.kernelName;
    const current = getKernel(name, "wasm");
    if (current === config) {
      result.active.push(name);
      continue;
    }
    if (OVERRIDES.has(config)) {
      if (current == null) {
        result.skipped.push(`${name}: wasm has no kernel to replace (import @tensorflow/tfjs-backend-wasm first)`);
        continue;
      }
      originals.set(name, current);
      unregisterKernel(name, "wasm");
    } else if (current != null) {
      result.skipped.push(`${name}: wasm already has a kernel`);
      continue;
    }
    registerKernel(config);
    result.active.push(name);
  }
  return result;
}

/** Puts wasm's original kernels back and removes the added ones (for benchmarks and tests). */
export function unregisterWasmGapKernels(): void {
  for (const config of WASM_GAP_KERNEL_CONFIGS) {
    const name = config.kernelName;
    if (getKernel(name, "wasm") !== config) continue;
    unregisterKernel(name, "wasm");
    const original = originals.get(name);
    if (original !== undefined) registerKernel(original);
    originals.delete(name);
  }
}
