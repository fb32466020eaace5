/**
 * `@proj/tensor-kernels/register`: the package's only side effect. Registers every fused kernel with the backends
 * it has kernels for, and every gradient. Kernels are keyed by backend name, so registering for a backend that the
 * app never loads costs nothing; no backend package is imported here.
 */
import { registerGradient, registerKernel } from "@tensorflow/tfjs-core";
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";
import { layerNormCpuConfig } from "./kernels/cpu/layer-norm.js";
import { layerNormWasmConfig } from "./kernels/wasm/layer-norm.js";
import { layerNormWebGpuConfig } from "./kernels/webgpu/layer-norm.js";
import { layerNormGradConfig } from "./ops/layer-norm-grad.js";

export const KERNEL_CONFIGS: readonly KernelConfig[] = [
  // cpu
  layerNormCpuConfig,
  // wasm
  layerNormWasmConfig,
  // webgpu
  layerNormWebGpuConfig,
];

export const GRAD_CONFIGS: readonly GradConfig[] = [layerNormGradConfig];

for (const config of KERNEL_CONFIGS) registerKernel(config);
for (const config of GRAD_CONFIGS) registerGradient(config);
