/** Kernel and gradient configs of the attention op (listed by register.ts). */
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";

export const ATTENTION_KERNELS: readonly KernelConfig[] = [];
export const ATTENTION_GRADS: readonly GradConfig[] = [];
