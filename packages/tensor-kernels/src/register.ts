/**
 * `@proj/tensor-kernels/register`: the package's only side effect. Registers every fused kernel with the backends
 * it has kernels for, and every gradient. Kernels are keyed by backend name, so registering for a backend that the
 * app never loads costs nothing; no backend package is imported here.
 *
 * The wasm gap kernels (issue #4: conv weight gradient, embedding gradient, faster transposed matmuls and conv
 * input gradient) partly *replace* wasm's own kernels, so they need `@tensorflow/tfjs-backend-wasm` loaded first:
 * import it before this entry, or let `setupBackend()` load it (it re-runs the registration then), or call
 * `registerWasmGapKernels()` yourself. The two kernels wasm lacks are added either way.
 */
import { registerGradient, registerKernel } from "@tensorflow/tfjs-core";
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";
import { layerNormCpuConfig } from "./kernels/cpu/layer-norm.js";
import { layerNormWasmConfig } from "./kernels/wasm/layer-norm.js";
import { layerNormWebGpuConfig } from "./kernels/webgpu/layer-norm.js";
import { layerNormGradConfig } from "./ops/layer-norm-grad.js";
import { ATTENTION_GRADS, ATTENTION_KERNELS } from "./registry/attention.js";
import { GROUP_NORM_GRADS, GROUP_NORM_KERNELS } from "./registry/group-norm.js";
import { LINEAR_GRADS, LINEAR_KERNELS } from "./registry/linear.js";
import { registerWasmGapKernels } from "./kernels/wasm/gap-kernels.js";
import { onBackendLoaded } from "./setup-backend.js";

export { registerWasmGapKernels, unregisterWasmGapKernels } from "./kernels/wasm/gap-kernels.js";
export type { WasmGapRegistration } from "./kernels/wasm/gap-kernels.js";

export const KERNEL_CONFIGS: readonly KernelConfig[] = [
  layerNormCpuConfig,
  layerNormWasmConfig,
  layerNormWebGpuConfig,
  ...GROUP_NORM_KERNELS,
  ...ATTENTION_KERNELS,
  ...LINEAR_KERNELS,
];

export const GRAD_CONFIGS: readonly GradConfig[] = [layerNormGradConfig, ...GROUP_NORM_GRADS, ...ATTENTION_GRADS, ...LINEAR_GRADS];

for (const config of KERNEL_CONFIGS) registerKernel(config);
for (const config of GRAD_CONFIGS) registerGradient(config);
registerWasmGapKernels();
onBackendLoaded((backend) => {
  if (backend === "wasm") registerWasmGapKernels();
});
