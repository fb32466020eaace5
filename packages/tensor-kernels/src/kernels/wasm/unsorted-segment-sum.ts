/**
 * `UnsortedSegmentSum` for tfjs-backend-wasm, which has none (tfjs 4.22). It is the gradient of `gather` (so of an
 * embedding lookup):
 *
 *   out[s, ...] = Σ_{i : segmentIds[i] = s} x[i, ...]        x: [N, ...inner]; segmentIds: int32 [N]; out: [S, ...inner]
 *
 * One JS pass over x on the heap. Ids outside [0, S) are dropped, as in TensorFlow and on tfjs's cpu backend.
 * float32 and int32 x (the output has x's dtype).
 */
import { UnsortedSegmentSum, util } from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc, TensorInfo, UnsortedSegmentSumAttrs } from "@tensorflow/tfjs-core";
import { asWasm, f32, i32, makeResident, type WasmBackend } from "./wasm-heap.js";

export function unsortedSegmentSum(backend: WasmBackend, x: TensorInfo, segmentIds: TensorInfo, numSegments: number): TensorInfo {
  const kernel = `${UnsortedSegmentSum} on wasm`;
  if (x.dtype !== "float32" && x.dtype !== "int32") throw new TypeError(`${kernel}: x must be float32 or int32, got ${x.dtype}`);
  if (segmentIds.dtype !== "int32") throw new TypeError(`${kernel}: segmentIds must be int32, got ${segmentIds.dtype}`);
  if (x.shape.length < 1) throw new RangeError(`${kernel}: x must have rank ≥ 1, got a scalar`);
  if (segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new RangeError(`${kernel}: segmentIds must have shape [${x.shape[0]}] (the first axis of x), got [${segmentIds.shape.join(", ")}]`);
  }
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new RangeError(`${kernel}: numSegments must be a non-negative integer, got ${numSegments}`);
  }
  const rows = x.shape[0]!;
  const inner = util.sizeFromShape(x.shape.slice(1));
  makeResident(backend, x, segmentIds);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
  const [xs, sums] = x.dtype === "float32" ? [f32(backend, x), f32(backend, out)] : [i32(backend, x), i32(backend, out)]; // int32 sums wrap
  const ids = i32(backend, segmentIds);
  sums.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) sums[dst + j]! += xs[src + j]!;
  }
  return out;
}

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  unsortedSegmentSum(
    asWasm(backend),
    inputs.x as TensorInfo,
    inputs.segmentIds as TensorInfo,
    (attrs as unknown as UnsortedSegmentSumAttrs).numSegments,
  );

export const unsortedSegmentSumWasmConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: "wasm",
  kernelFunc,
};
