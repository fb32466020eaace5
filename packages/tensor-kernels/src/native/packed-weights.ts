/**
 * Weights packed once for the native GEMM. A product with few rows (a ViT-B/32 image at batch 1 has M = 50) spends
 * ~10% of its time packing B, the weight, into the micro-kernel's panels — on every call, although a layer's
 * weight is the same tensor forward after forward. onnxruntime packs constant weights once per session; here the
 * `native` backend packs a B the second time it meets the same tensor in the same kind of product (sizes and
 * transpose: a training step's forward and backward use a weight once each, one of them transposed, and pack
 * nothing), and reuses the packing.
 *
 * Safe because tfjs data is immutable per data id: a new value is a new data id (`Variable.assign` included). The
 * two ways this package changes data in place are covered: the backend forgets a data id's packing when its memory
 * is freed (`disposeData`, wrapped by `trackPackedWeights`), and the in-place AdamW step forgets its parameter's
 * (`forgetPacked`). A budget (`PROJ_NATIVE_PACKED_MB`, default 512 MB) caps the copies; beyond it products pack B
 * per call as before.
 */
import type { DataId, TensorInfo } from "@tensorflow/tfjs-core";
import { nativeHas, nativePackB, nativeReleasePackedB } from "./addon.js";

/** Products with at most this many rows use packed weights (ViT-B/32 at batch 8, M = 400, gains 7%; far above it, packing B is a small part of the work). */
export const PACKED_MAX_ROWS = 1024;
/** Weights smaller than this (k·n floats) are packed per call (too little to gain). */
const PACKED_MIN_FLOATS = 1 << 16;

interface Packed {
  id: number;
  k: number;
  n: number;
  transB: boolean;
}

/** Per data id: seen once as a B (the use, `id` 0), or its packing. */
const entries = new Map<DataId, Packed>();
let packedFloats = 0;

function budgetFloats(): number {
  const mb = typeof process === "undefined" ? undefined : Number(process.env.PROJ_NATIVE_PACKED_MB);
  return (mb !== undefined && Number.isFinite(mb) && mb >= 0 ? mb : 512) * 2 ** 18;
}

/**
 * The packed-B id to pass to `nativeGemm` for B = `b` (op(B) [k, n], dense, at byte offset `offset` of `memory`),
 * or 0 to pack per call: the first time a tensor is seen in such a product it is only remembered; the second
 * time it is packed.
 */
export function packedWeight(memory: ArrayBuffer, b: TensorInfo, offset: number, k: number, n: number, transB: boolean): number {
  if (k * n < PACKED_MIN_FLOATS || !nativeHas("packB")) return 0;
  const entry = entries.get(b.dataId);
  const same = entry !== undefined && entry.k === k && entry.n === n && entry.transB === transB;
  if (entry === undefined || (!same && entry.id === 0)) {
    entries.set(b.dataId, { id: 0, k, n, transB }); // seen (a training step's dW·… uses W transposed: no repeat)
    return 0;
  }
  if (!same) return 0;
  if (entry.id !== 0) return entry.id;
  if (packedFloats + k * n > budgetFloats()) return 0;
  const id = nativePackB(memory, { b: offset, k, n, transB });
  entries.set(b.dataId, { id, k, n, transB });
  packedFloats += k * n;
  return id;
}

/** Forgets what is known about a data id (its memory was freed, or rewritten in place), freeing its packing. */
export function forgetPacked(dataId: DataId): void {
  const entry = entries.get(dataId);
  if (entry === undefined) return;
  entries.delete(dataId);
  if (entry.id === 0) return;
  nativeReleasePackedB(entry.id);
  packedFloats -= entry.k * entry.n;
}

/** Frees every packing (the backend was disposed). */
export function forgetAllPacked(): void {
  for (const dataId of [...entries.keys()]) forgetPacked(dataId);
}

/** How many data ids are tracked and how many of them hold a packing (for the tests). */
export function packedWeightStats(): { tracked: number; packed: number; floats: number } {
  let packed = 0;
  for (const entry of entries.values()) if (entry.id !== 0) packed++;
  return { tracked: entries.size, packed, floats: packedFloats };
}

interface DisposingBackend {
  disposeData(dataId: DataId, force?: boolean): boolean;
  dispose(): void;
}

/** Makes `backend` forget a data id's packing when its memory is freed, and every packing when it is disposed. */
export function trackPackedWeights(backend: DisposingBackend): void {
  const disposeData = backend.disposeData.bind(backend);
  const dispose = backend.dispose.bind(backend);
  backend.disposeData = (dataId: DataId, force?: boolean): boolean => {
    const freed = disposeData(dataId, force);
    if (freed) forgetPacked(dataId);
    return freed;
  };
  backend.dispose = (): void => {
    forgetAllPacked();
    dispose();
  };
}
