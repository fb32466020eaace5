/**
 * WGSL programs for tfjs-backend-webgpu without a runtime dependency on it: a program is a plain object that the
 * backend's `runWebGPUProgram` compiles (once per cache key) and dispatches. What the backend injects into our
 * WGSL source:
 * - bindings: `result` (output, read_write), one `array<f32>` per name in `variableNames`, and `uniforms`;
 * - `uniforms.<name>Shape` / `<name>ShapeStrides` per input, `outShape`, `size` (with `size: true`) and the
 *   fields of our `uniforms` string (each ending in a comma; values passed in order as `uniformData`);
 * - `localId`, `workgroupId`, `getGlobalIndex()`, `setOutputAtIndex(i, v)`; with a flat `dispatchLayout` our
 *   code defines `fn main(index: i32)`, called with the global invocation index.
 * The backend's cache key is our `shaderKey` plus ranks, dtypes, workgroup size and variable names — so every
 * constant baked into the source must be part of `shaderKey`; sizes that vary are passed as uniforms.
 */
import type { DataType, KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";

export interface WgslProgram {
  /** Input bindings, in the order of the tensors passed to `runProgram`. */
  variableNames: string[];
  outputShape: number[];
  /** Cache key prefix: must cover every constant baked into `getUserCode()`. */
  shaderKey: string;
  /** Flat layout (`{ x: [0, …, rank-1] }`): our code defines `fn main(index: i32)`. */
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  /** Workgroups per dimension. */
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** Declare `uniforms.size` (the output's element count). */
  size?: boolean;
  /** Extra uniform fields, WGSL struct syntax, each ending in a comma: `"rows : i32, epsilon : f32,"`. */
  uniforms?: string;
  getUserCode(): string;
}

export interface UniformValue {
  type: "int32" | "uint32" | "float32";
  data: number[];
}

interface WebGpuBackendLike {
  runWebGPUProgram(program: WgslProgram, inputs: TensorInfo[], outputDtype: DataType, uniformData?: UniformValue[]): TensorInfo;
}

/** Runs `program` on the webgpu backend. Build a fresh program object per call: the backend mutates it. */
export function runProgram(backend: KernelBackend | object, program: WgslProgram, inputs: TensorInfo[], uniformData: UniformValue[] = [], dtype: DataType = "float32"): TensorInfo {
  return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(program, inputs, dtype, uniformData);
}

/** A flat dispatch layout over an output of `rank` dimensions. */
export function flatLayout(rank: number): { x: number[] } {
  return { x: Array.from({ length: Math.max(rank, 1) }, (_, i) => i) };
}

/** WGSL for a tree reduction (sum) of `partial[0..WG)` in workgroup memory; leaves the total in `partial[0]`. */
export function workgroupSumWgsl(workgroupSize: number, lane = "lane"): string {
  return `
  workgroupBarrier();
  for (var stride = ${workgroupSize / 2}; stride > 0; stride = stride / 2) {
    if (${lane} < stride) { partial[${lane}] = partial[${lane}] + partial[${lane} + stride]; }
    workgroupBarrier();
  }`;
}
