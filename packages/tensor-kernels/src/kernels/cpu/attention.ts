import { Attention, MaskedAttention } from "../../ops/attention.js";
import { attentionHostBody } from "../host/attention-kernel.js";
import { hostKernelConfig } from "../host/kernel-config.js";

export const attentionCpuConfig = hostKernelConfig(Attention, "cpu", attentionHostBody);
export const maskedAttentionCpuConfig = hostKernelConfig(MaskedAttention, "cpu", attentionHostBody);
