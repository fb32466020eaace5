/** Kernel and gradient configs of the attention op (listed by register.ts). */
import type { GradConfig, KernelConfig } from "@tensorflow/tfjs-core";
import { attentionCpuConfig, maskedAttentionCpuConfig } from "../kernels/cpu/attention.js";
import { attentionWasmConfig, maskedAttentionWasmConfig } from "../kernels/wasm/attention.js";
import { attentionWebGpuConfig, maskedAttentionWebGpuConfig } from "../kernels/webgpu/attention.js";
import { attentionGradConfig, maskedAttentionGradConfig } from "../ops/attention-grad.js";
import { qkvAttentionGradConfig } from "../ops/qkv-attention.js";

export const ATTENTION_KERNELS: readonly KernelConfig[] = [
  attentionCpuConfig,
  maskedAttentionCpuConfig,
  attentionWasmConfig,
  maskedAttentionWasmConfig,
  attentionWebGpuConfig,
  maskedAttentionWebGpuConfig,
];
export const ATTENTION_GRADS: readonly GradConfig[] = [attentionGradConfig, maskedAttentionGradConfig, qkvAttentionGradConfig];
