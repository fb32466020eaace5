import { GroupNorm } from "../../ops/group-norm.js";
import { GroupNormGrad } from "../../ops/group-norm-grad.js";
import { hostKernelConfig } from "../host/kernel-config.js";
import { groupNormGradHostBody, groupNormHostBody } from "../host/group-norm-kernel.js";

export const groupNormCpuConfig = hostKernelConfig(GroupNorm, "cpu", groupNormHostBody);
export const groupNormGradCpuConfig = hostKernelConfig(GroupNormGrad, "cpu", groupNormGradHostBody);
