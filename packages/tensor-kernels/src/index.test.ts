import { describe, expect, it } from "vitest";
import * as api from "./index.js";
import { GRAD_CONFIGS, KERNEL_CONFIGS } from "./register.js";

describe("@proj/tensor-kernels public surface", () => {
  it("exports exactly these names", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "ACTIVATIONS",
        "AdamW",
        "Attention",
        "ExponentialMovingAverage",
        "GroupNorm",
        "GroupNormGrad",
        "LayerNorm",
        "Linear",
        "LinearNoBias",
        "MaskedAttention",
        "QkvAttention",
        "attention",
        "attentionReference",
        "clipGradNorm",
        "cosineSchedule",
        "defaultWeightDecayMask",
        "erf",
        "gelu",
        "groupNorm",
        "groupNormReference",
        "hasKernel",
        "layerNorm",
        "layerNormReference",
        "linear",
        "linearReference",
        "qkvAttention",
        "qkvAttentionReference",
        "quickGelu",
        "setupBackend",
        "silu",
      ].sort(),
    );
  });

  it("registers a kernel for every op on cpu, wasm and webgpu, and a gradient for every op", () => {
    const registered = new Set(KERNEL_CONFIGS.map((c) => `${c.kernelName}@${c.backendName}`));
    for (const kernel of [api.LayerNorm, api.GroupNorm, api.Attention, api.MaskedAttention, api.Linear, api.LinearNoBias]) {
      for (const backend of ["cpu", "wasm", "webgpu"]) expect(registered, `${kernel} on ${backend}`).toContain(`${kernel}@${backend}`);
    }
    const grads = new Set(GRAD_CONFIGS.map((g) => g.kernelName));
    for (const kernel of [api.LayerNorm, api.GroupNorm, api.Attention, api.MaskedAttention, api.Linear, api.LinearNoBias]) {
      expect(grads, `gradient of ${kernel}`).toContain(kernel);
    }
  });
});
