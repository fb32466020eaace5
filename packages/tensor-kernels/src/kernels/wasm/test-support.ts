/**
 * Test support for the wasm gap kernels: runs one computation on `cpu` (the reference) and on `wasm` with the gap
 * kernels registered, and counts the wasm backend's heap buffers. Used by the *.test.ts files beside it.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { relativeErrorOf } from "../../testing/backends.js";
import { registerWasmGapKernels } from "./gap-kernels.js";

export { relativeErrorOf };

export interface Result {
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
}

let ready: Promise<void> | undefined;

/** Initialises cpu and wasm once and installs the gap kernels; leaves wasm active. */
export function setUpWasmGapKernels(): Promise<void> {
  ready ??= (async () => {
    for (const name of ["cpu", "wasm"]) {
      if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
    }
    registerWasmGapKernels();
  })();
  return ready;
}

/** Runs `compute` (inside tidy, so its inputs are freed) on `backend` and reads the result. */
export async function runOn(backend: "cpu" | "wasm", compute: () => tf.Tensor): Promise<Result> {
  await tf.setBackend(backend);
  const y = tf.tidy(compute);
  const values = await y.data();
  const shape = y.shape.slice();
  y.dispose();
  return { shape, values: values as Result["values"] };
}

/** Relative error of the wasm result against the cpu one; the shapes must agree. */
export async function wasmVsCpu(compute: () => tf.Tensor): Promise<{ error: number; shape: number[] }> {
  const cpu = await runOn("cpu", compute);
  const wasm = await runOn("wasm", compute);
  if (cpu.shape.join() !== wasm.shape.join()) throw new Error(`shape [${wasm.shape.join(", ")}] ≠ cpu's [${cpu.shape.join(", ")}]`);
  return { error: relativeErrorOf(wasm.values, cpu.values), shape: wasm.shape };
}

/** Heap buffers the wasm backend holds (its own count, beside tf.memory()'s tensors). */
export function wasmDataIds(): number {
  return (tf.engine().findBackend("wasm") as unknown as { numDataIds(): number }).numDataIds();
}

/**
 * Runs `compute` on wasm (inside tidy) `repeats` times, disposing each result, and returns the growth of tensors
 * and of heap buffers over the last repeats (the first one may create lasting state, e.g. cached constants).
 */
export async function leakOnWasm(compute: () => tf.Tensor | tf.Tensor[], repeats = 3): Promise<{ tensors: number; buffers: number }> {
  await tf.setBackend("wasm");
  tf.dispose(tf.tidy(compute));
  const tensors = tf.memory().numTensors;
  const buffers = wasmDataIds();
  for (let i = 0; i < repeats; i++) {
    const out = tf.tidy(compute);
    await (Array.isArray(out) ? out[0]! : out).data();
    tf.dispose(out);
  }
  return { tensors: tf.memory().numTensors - tensors, buffers: wasmDataIds() - buffers };
}
