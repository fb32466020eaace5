/** Kernel and gradient configs of the linear op (listed by register.ts). */
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";

export const LINEAR_KERNELS: readonly KernelConfig[] = [];
export const LINEAR_GRADS: readonly GradConfig[] = [];
