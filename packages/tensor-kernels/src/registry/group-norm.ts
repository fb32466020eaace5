/** Kernel and gradient configs of the group-norm op (listed by register.ts). */
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";

export const GROUP_NORM_KERNELS: readonly KernelConfig[] = [];
export const GROUP_NORM_GRADS: readonly GradConfig[] = [];
