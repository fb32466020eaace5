import { LayerNorm } from "../../ops/layer-norm.js";
import { hostKernelConfig } from "../host/kernel-config.js";
import { layerNormHostBody } from "../host/layer-norm-kernel.js";

export const layerNormWasmConfig = hostKernelConfig(LayerNorm, "wasm", layerNormHostBody);
