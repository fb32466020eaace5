/**
 * Host (CPU-memory) kernels run the same TypeScript loops on the `cpu` and `wasm` backends; only the way they
 * reach tensor memory differs. `cpu` keeps a `Float32Array` per tensor; `wasm` keeps tensors in its heap, which we
 * read and write in place (views are taken after allocating outputs, because allocation may grow the heap).
 */
import { util } from "@tensorflow/tfjs-core";
import type { DataType, KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";

interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values: Float32Array): TensorInfo;
}

interface WasmBackendLike {
  /** Looking an id up moves its data onto the heap if it still lives on another backend (this allocates). */
  dataIdMap: { get(dataId: object): unknown };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
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
  const wasm = backend as unknown as WasmBackendLike;
  for (const t of inputs) wasm.dataIdMap.get(t.dataId); // move inputs in first: moving allocates, detaching views
  const infos = outputShapes.map((s) => wasm.makeOutput(s, "float32"));
  const ins = inputs.map((t) => wasm.typedArrayFromHeap(t) as Float32Array);
  const outs = infos.map((t) => wasm.typedArrayFromHeap(t) as Float32Array);
  body(ins, outs);
  return infos;
};
