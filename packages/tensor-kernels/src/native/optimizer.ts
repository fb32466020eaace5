/**
 * AdamW's update on the `native` backend: one addon call per parameter that rewrites θ, m and v in place on the
 * heap (native/src/optimizer.cc), instead of the ten tfjs ops and three fresh tensors per parameter of the plain
 * step in src/training/adamw.ts. Same equations, same float32 operation order: results agree with the plain step
 * to an ulp or two.
 *
 * In place is only safe when nothing else shares a variable's data: tfjs lets a fresh `tf.variable(t)` share t's
 * data until its first `assign`. `nativeAdamWStep` therefore checks that θ, m and v each hold their data alone
 * (the backend's reference count of 1) and returns false, changing nothing, when they do not or when the
 * backend is not `native`; the caller then takes the plain step.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TensorInfo } from "@tensorflow/tfjs-core";
import { makeResident, type WasmBackend } from "../kernels/wasm/wasm-heap.js";
import { nativeAdamW } from "./addon.js";
import { NATIVE_BACKEND } from "./kernels.js";
import { forgetPacked } from "./packed-weights.js";

interface NativeHost extends WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  refCount(dataId: object): number;
}

export interface AdamWStepOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  /** t of the bias corrections, from 1. */
  step: number;
  /** λ for this parameter (0 when it does not decay). */
  weightDecay: number;
}

/**
 * One AdamW step on `param` with gradient `grad` and moments `m`, `v`, in place on the native heap. Returns
 * whether it ran; false (nothing changed) when the backend is not `native` or a variable shares its data.
 */
export function nativeAdamWStep(param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, o: AdamWStepOptions): boolean {
  if (tf.getBackend() !== NATIVE_BACKEND) return false;
  for (const [name, t] of [["param", param], ["grad", grad], ["m", m], ["v", v]] as const) {
    if (t.dtype !== "float32") throw new TypeError(`nativeAdamWStep: ${name} must be float32, got ${t.dtype}`);
    if (!tf.util.arraysEqual(t.shape, param.shape)) throw new RangeError(`nativeAdamWStep: ${name} has shape [${t.shape}], param [${param.shape}]`);
  }
  const backend = tf.backend() as unknown as NativeHost;
  const ids = new Set([param.dataId, grad.dataId, m.dataId, v.dataId]);
  if (ids.size !== 4) return false;
  makeResident(backend, param, grad, m, v);
  for (const t of [param, m, v]) {
    if (backend.refCount(t.dataId) !== 1) return false;
  }
  const at = (t: TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  nativeAdamW(backend.wasm.HEAPU8.buffer as ArrayBuffer, { param: at(param), grad: at(grad), m: at(m), v: at(v), size: param.size, ...o });
  forgetPacked(param.dataId); // θ changed in place: a packing of the old θ must not be used again
  return true;
}
