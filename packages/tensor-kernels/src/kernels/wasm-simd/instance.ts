/**
 * Our SIMD128 kernel modules (one per `<name>.wat` here), instantiated on the tfjs wasm backend's own memory so
 * that kernels read and write tensors in place: pointers are the tensors' `memoryOffset`s. One instance per
 * (module, backend memory), created on first use; modules stay < 4 KB, so synchronous compilation is allowed on
 * browsers' main threads too.
 */
import type { KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";

interface WasmBackendInternals {
  wasm: { asm: { memory: WebAssembly.Memory } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
}

const compiled = new Map<string, WebAssembly.Module>();
const instances = new WeakMap<WebAssembly.Memory, Map<string, unknown>>();

function decodeBase64(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The exports of SIMD module `base64` (cached under `name`), bound to this wasm backend's memory. */
export function simdModule<T>(backend: KernelBackend, name: string, base64: string): T {
  const memory = (backend as unknown as WasmBackendInternals).wasm.asm.memory;
  let perMemory = instances.get(memory);
  if (perMemory === undefined) instances.set(memory, (perMemory = new Map()));
  let exports = perMemory.get(name);
  if (exports === undefined) {
    let module = compiled.get(name);
    if (module === undefined) compiled.set(name, (module = new WebAssembly.Module(decodeBase64(base64) as BufferSource)));
    exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    perMemory.set(name, exports);
  }
  return exports as T;
}

/**
 * Byte offset of a tensor in the wasm backend's heap. The lookup moves the tensor onto the heap if it still lives
 * on another backend, which allocates: take every input's offset before allocating outputs.
 */
export function heapOffset(backend: KernelBackend, t: TensorInfo): number {
  return (backend as unknown as WasmBackendInternals).dataIdMap.get(t.dataId).memoryOffset;
}

