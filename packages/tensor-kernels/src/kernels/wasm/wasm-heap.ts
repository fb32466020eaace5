/**
 * The few parts of tfjs-backend-wasm's `BackendWasm` that the gap kernels use, and helpers over them. The backend
 * package is not a dependency of this library (an app brings its own), so it is described structurally here.
 *
 * Heap views: every allocation (`makeOutput`, or any wasm kernel we call) may grow the wasm memory and detach the
 * views taken before it, so take views with `f32`/`i32` after the last allocation and again after each kernel call.
 * An input can also still live on another backend (tfjs moves data lazily, on first access), and moving it in
 * allocates: so a kernel calls `makeResident` on its inputs before anything else.
 */
import { getKernel, util } from "@tensorflow/tfjs-core";
import type { DataId, DataType, KernelBackend, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";

export interface WasmBackend {
  /** Looking an id up moves its data onto the wasm heap if it lives on another backend. */
  dataIdMap: { get(dataId: DataId): unknown };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId, force?: boolean): boolean;
  numDataIds(): number;
}

export function asWasm(backend: unknown): WasmBackend {
  return backend as WasmBackend;
}

/** Moves onto the wasm heap any input that still lives on another backend (this allocates, hence first). */
export function makeResident(backend: WasmBackend, ...infos: (TensorInfo | undefined)[]): void {
  for (const info of infos) if (info != null) backend.dataIdMap.get(info.dataId);
}

/**
 * A float32 view of `info` on the heap (valid until the next allocation). `typedArrayFromHeap` reads the heap's
 * buffer before it looks the id up, so a move triggered by that lookup would hand out a detached buffer: the id is
 * looked up first.
 */
export function f32(backend: WasmBackend, info: TensorInfo): Float32Array {
  backend.dataIdMap.get(info.dataId);
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** An int32 view of `info` on the heap (valid until the next allocation). */
export function i32(backend: WasmBackend, info: TensorInfo): Int32Array {
  backend.dataIdMap.get(info.dataId);
  return backend.typedArrayFromHeap(info) as Int32Array;
}

/** The same data under another shape of equal size: no copy and no reference taken, so never dispose it. */
export function withShape(info: TensorInfo, shape: number[]): TensorInfo {
  if (util.sizeFromShape(shape) !== util.sizeFromShape(info.shape)) {
    throw new Error(`withShape: [${shape.join(", ")}] has a different size from [${info.shape.join(", ")}]`);
  }
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Runs another kernel registered for `wasm` (whatever is registered now, e.g. our BatchMatMul wrapper). */
export function runWasmKernel(
  kernelName: string,
  backend: WasmBackend,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = getKernel(kernelName, "wasm");
  if (config == null) throw new Error(`the wasm backend has no ${kernelName} kernel: import @tensorflow/tfjs-backend-wasm first`);
  return config.kernelFunc({ inputs, backend: backend as unknown as KernelBackend, attrs }) as TensorInfo;
}

/**
 * Intermediates a kernel allocated itself (with `makeOutput` or by calling another kernel), freed together in a
 * `finally` so that an exception half-way leaks no heap buffer.
 */
export class Intermediates {
  private readonly infos: TensorInfo[] = [];

  constructor(private readonly backend: WasmBackend) {}

  /** Allocates an uninitialised buffer that `dispose` frees. */
  alloc(shape: number[], dtype: DataType = "float32"): TensorInfo {
    return this.track(this.backend.makeOutput(shape, dtype));
  }

  track(info: TensorInfo): TensorInfo {
    this.infos.push(info);
    return info;
  }

  /** Frees `info`'s buffer now (it must have been tracked). */
  release(info: TensorInfo): void {
    this.backend.disposeData(this.keep(info).dataId);
  }

  /** Stops tracking `info`'s buffer (the kernel returns it) and gives `info` back. */
  keep(info: TensorInfo): TensorInfo {
    const i = this.infos.findIndex((t) => t.dataId === info.dataId);
    if (i < 0) throw new Error("Intermediates.keep: not a tracked intermediate");
    this.infos.splice(i, 1);
    return info;
  }

  dispose(): void {
    for (const info of this.infos.splice(0)) this.backend.disposeData(info.dataId);
  }
}
