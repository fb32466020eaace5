/** Builds the `cpu` and `wasm` KernelConfigs of a host kernel from one body. */
import type { KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { runOnCpu, runOnWasm, type HostRunner } from "./host-access.js";

export type HostKernelBody = (args: {
  inputs: Record<string, TensorInfo>;
  attrs: NamedAttrMap;
  run: (inputs: readonly TensorInfo[], outputShapes: readonly number[][], body: (ins: Float32Array[], outs: Float32Array[]) => void) => TensorInfo[];
}) => TensorInfo | TensorInfo[];

export function hostKernelConfig(kernelName: string, backendName: "cpu" | "wasm", body: HostKernelBody): KernelConfig {
  const runner: HostRunner = backendName === "cpu" ? runOnCpu : runOnWasm;
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
    body({
      inputs: inputs as Record<string, TensorInfo>,
      attrs: attrs ?? {},
      run: (ins, shapes, fn) => runner(backend as KernelBackend, ins, shapes, fn),
    });
  return { kernelName, backendName, kernelFunc };
}
