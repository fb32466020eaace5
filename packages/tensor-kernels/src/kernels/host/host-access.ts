/**
 * Host (CPU-memory) kernels run the same TypeScript loops on the `cpu` and `wasm` backends; only the way they
 * reach tensor memory differs. `cpu` keeps a `Float32Array` per tensor; `wasm` keeps tensors in its heap, which we
 * read and write in place (views are taken after allocating outputs, because allocation may grow the heap).
 */
import { util } from "@tensorflow/tfjs-core";
import type { DataType, KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";
import { asWasm, f32, makeResident } from "../wasm/wasm-heap.js";

interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values: Float32Array): TensorInfo;
}

/** Allocates float32 outputs, then calls `body` with input and output arrays; returns the outputs. */
export type HostRunner = (
  backend: KernelBackend,
  inputs: readonly TensorInfo[],
  outputShapes: readonly number[][],
  body: (inputs: Float32Array[], outputs: Float32Array[]) => void,
) => TensorInfo[];

export const runOnCpu: HostRunner = (backend, inputs, outputShapes, body) => {
  const cpu = backend as unknown as CpuBackendLike;
  const ins = inputs.map((t) => cpu.data.get(t.dataId).values as Float32Array);
  const outs = outputShapes.map((s) => new Float32Array(util.sizeFromShape(s)));
  body(ins, outs);
  return outputShapes.map((s, i) => cpu.makeTensorInfo(s, "float32", outs[i]!));
};

export const runOnWasm: HostRunner = (backend, inputs, outputShapes, body) => {
  const wasm = asWasm(backend);
  makeResident(wasm, ...inputs); // moving an input in allocates, so before outputs and before any view
  const infos = outputShapes.map((s) => wasm.makeOutput(s, "float32"));
  const ins = inputs.map((t) => f32(wasm, t));
  const outs = infos.map((t) => f32(wasm, t));
  body(ins, outs);
  return infos;
};
