import { GroupNorm } from "../../ops/group-norm.js";
import { hostKernelConfig } from "../host/kernel-config.js";
import { groupNormHostBody } from "../host/group-norm-kernel.js";

export const groupNormCpuConfig = hostKernelConfig(GroupNorm, "cpu", groupNormHostBody);
