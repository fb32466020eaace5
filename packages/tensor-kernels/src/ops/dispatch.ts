/**
 * Runs a fused kernel when the active backend has one registered, else the plain tfjs composition. Backends
 * without our kernels (tfjs-node's `tensorflow`, `webgl`, or any backend before `@proj/tensor-kernels/register`
 * is imported) therefore still compute every op correctly.
 */
import { engine, getBackend, getKernel } from "@tensorflow/tfjs-core";
import type { NamedAttrMap, NamedTensorMap, Tensor } from "@tensorflow/tfjs-core";

/** Whether `kernelName` is registered for the active backend. */
export function hasKernel(kernelName: string, backendName = getBackend()): boolean {
  return getKernel(kernelName, backendName) != null;
}

export function runOrCompose(
  kernelName: string,
  inputs: NamedTensorMap,
  attrs: NamedAttrMap,
  compose: () => Tensor,
): Tensor {
  return hasKernel(kernelName) ? engine().runKernel<Tensor>(kernelName, inputs, attrs) : compose();
}
