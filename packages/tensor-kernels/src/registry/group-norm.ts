/** Kernel and gradient configs of the group-norm op (listed by register.ts). */
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";
import { groupNormCpuConfig, groupNormGradCpuConfig } from "../kernels/cpu/group-norm.js";
import { groupNormGradWasmConfig, groupNormWasmConfig } from "../kernels/wasm/group-norm.js";
import { groupNormWebGpuConfig } from "../kernels/webgpu/group-norm.js";
import { groupNormGradConfig } from "../ops/group-norm-grad.js";

export const GROUP_NORM_KERNELS: readonly KernelConfig[] = [
  groupNormCpuConfig,
  groupNormWasmConfig,
  groupNormWebGpuConfig,
  // The gradient's fused kernel on the host backends; webgpu runs the gradient's formulas as tfjs ops.
  groupNormGradCpuConfig,
  groupNormGradWasmConfig,
];
export const GROUP_NORM_GRADS: readonly GradConfig[] = [groupNormGradConfig];
