/**
 * linear on `cpu`: the cpu backend's own BatchMatMul on 3-D views ([1, M, K] × [1, K, N], no copies), then the
 * bias + activation epilogue in place over its fresh output. cpu's matmul is a plain blocked JS loop; that is
 * the backend's speed, not ours to fix here.
 */
import { BatchMatMul, getKernel } from "@tensorflow/tfjs-core";
import type { DataId, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { Linear, LinearNoBias, linearSizes, type LinearAttrs, type LinearInputs } from "../../ops/linear.js";
import { linearEpilogueHost } from "../host/linear.js";

interface CpuBackendLike {
  data: { get(dataId: DataId): { values?: unknown } };
}

const linearCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, bias } = inputs as unknown as LinearInputs;
  const { activation } = attrs as unknown as LinearAttrs;
  const { rows, inFeatures, outFeatures, outShape } = linearSizes(x, weight);
  const matMul = getKernel(BatchMatMul, "cpu");
  if (matMul == null) throw new Error("linear on cpu: the cpu backend has no BatchMatMul kernel");
  // Views of the same data under 3-D shapes: no copy and no reference taken (the kernel reshapes them itself).
  const a: TensorInfo = { dataId: x.dataId, shape: [1, rows, inFeatures], dtype: x.dtype };
  const b: TensorInfo = { dataId: weight.dataId, shape: [1, inFeatures, outFeatures], dtype: weight.dtype };
  const z = matMul.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
  const cpu = backend as unknown as CpuBackendLike;
  const values = cpu.data.get(z.dataId).values as Float32Array; // [M, N], ours alone
  const biasValues = bias !== undefined ? (cpu.data.get(bias.dataId).values as Float32Array) : null;
  linearEpilogueHost(values, biasValues, outFeatures, activation);
  return { dataId: z.dataId, shape: outShape, dtype: "float32" };
};

export const linearCpuConfig: KernelConfig = { kernelName: Linear, backendName: "cpu", kernelFunc: linearCpu };
export const linearNoBiasCpuConfig: KernelConfig = { kernelName: LinearNoBias, backendName: "cpu", kernelFunc: linearCpu };
