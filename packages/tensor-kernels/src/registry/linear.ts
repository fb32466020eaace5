/** Kernel and gradient configs of the linear op (listed by register.ts). */
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";
import { linearCpuConfig, linearNoBiasCpuConfig } from "../kernels/cpu/linear.js";
import { linearNoBiasWasmConfig, linearWasmConfig } from "../kernels/wasm/linear.js";
import { linearNoBiasWebGpuConfig, linearWebGpuConfig } from "../kernels/webgpu/linear.js";
import { linearGradConfig, linearNoBiasGradConfig } from "../ops/linear-grad.js";

export const LINEAR_KERNELS: readonly KernelConfig[] = [
  linearCpuConfig,
  linearNoBiasCpuConfig,
  linearWasmConfig,
  linearNoBiasWasmConfig,
  linearWebGpuConfig,
  linearNoBiasWebGpuConfig,
];
export const LINEAR_GRADS: readonly GradConfig[] = [linearGradConfig, linearNoBiasGradConfig];
