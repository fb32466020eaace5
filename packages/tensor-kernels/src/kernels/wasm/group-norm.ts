/**
 * groupNorm and its gradient on the wasm backend: the host loops (kernels/host/group-norm.ts) on the heap, in place.
 * With SiLU, σ comes from wasm's own (XNNPACK, SIMD) Sigmoid kernel rather than a JS `Math.exp` per element, which
 * costs ~20× more here (measured ~40 ns against ~2 ns per element): the forward normalises in JS, then computes
 * z·sigmoid(z) with wasm's Sigmoid and Multiply; the gradient writes z in JS, takes wasm's sigmoid of it, and
 * passes σ(z) to the gradient loop.
 */
import { getKernel, Multiply, Sigmoid } from "@tensorflow/tfjs-core";
import type { KernelBackend, KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { GroupNorm, type GroupNormAttrs } from "../../ops/group-norm.js";
import { GroupNormGrad } from "../../ops/group-norm-grad.js";
import { runOnWasm } from "../host/host-access.js";
import { hostKernelConfig } from "../host/kernel-config.js";
import { groupNormApplyHost, groupNormGradHost, groupNormStatsHost, type GroupStats } from "../host/group-norm.js";
import { groupNormGradHostBody, groupNormHostBody } from "../host/group-norm-kernel.js";

const normalise = hostKernelConfig(GroupNorm, "wasm", groupNormHostBody).kernelFunc;
const gradWithoutActivation = hostKernelConfig(GroupNormGrad, "wasm", groupNormGradHostBody).kernelFunc;

function runWasm(kernelName: string, backend: KernelBackend, inputs: Record<string, TensorInfo>): TensorInfo {
  const config = getKernel(kernelName, "wasm");
  if (config == null) throw new Error(`groupNorm: the wasm backend has no ${kernelName} kernel`);
  return config.kernelFunc({ inputs, backend, attrs: {} }) as TensorInfo;
}

function withoutActivation(attrs: NamedAttrMap): NamedAttrMap {
  return { ...attrs, activation: "none" };
}

export const groupNormWasmConfig: KernelConfig = {
  kernelName: GroupNorm,
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs = {} }) => {
    const z = normalise({ inputs, backend, attrs: withoutActivation(attrs) }) as TensorInfo;
    if ((attrs as unknown as GroupNormAttrs).activation !== "silu") return z;
    const wasm = backend as KernelBackend;
    let s: TensorInfo | undefined;
    try {
      s = runWasm(Sigmoid, wasm, { x: z });
      return runWasm(Multiply, wasm, { a: z, b: s });
    } finally {
      wasm.disposeData(z.dataId);
      if (s) wasm.disposeData(s.dataId);
    }
  },
};

export const groupNormGradWasmConfig: KernelConfig = {
  kernelName: GroupNormGrad,
  backendName: "wasm",
  kernelFunc: (args) => {
    const { groups, epsilon, activation } = (args.attrs ?? {}) as unknown as GroupNormAttrs;
    if (activation !== "silu") return gradWithoutActivation(args);
    const wasm = args.backend as KernelBackend;
    const { dy, x, gamma, beta } = args.inputs as { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const samples = x.shape[0]!;
    const channels = x.shape[x.shape.length - 1]!;
    let stats: GroupStats | undefined;
    const [z] = runOnWasm(wasm, [x, gamma, beta], [x.shape.slice()], ([xs, g, b], [zs]) => {
      stats = groupNormStatsHost(xs!, samples, channels, groups, epsilon);
      groupNormApplyHost(xs!, g!, b!, stats, zs!, samples, channels, false); // the pre-activation z
    });
    let s: TensorInfo | undefined;
    try {
      s = runWasm(Sigmoid, wasm, { x: z! });
      return runOnWasm(wasm, [x, gamma, beta, dy, s], [x.shape.slice(), [channels], [channels]], ([xs, g, b, d, sig], [dx, dg, db]) =>
        groupNormGradHost(xs!, g!, b!, d!, stats!, sig!, dx!, dg!, db!, samples, channels, groups, true),
      );
    } finally {
      wasm.disposeData(z!.dataId);
      if (s) wasm.disposeData(s.dataId);
    }
  },
};
