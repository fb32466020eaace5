/**
 * The `native` tfjs backend: an instance of tfjs-backend-wasm (made by wasm's own registered factory) whose hot
 * kernels are replaced by the addon's (kernels.ts), reading and writing the wasm heap in place. Every other kernel
 * is wasm's own config registered again under `native`, so every op works; data moves between `native` and other
 * backends as with any backend.
 *
 * Kernel configs are copied when the backend is first created, i.e. after `@tensorflow/tfjs-backend-wasm` and
 * our `register` entry have registered theirs (the `native` entry imports `register` first; this module does not,
 * so that the test harness can add the backend beside whichever copy of `register` a package's code loaded).
 */
import { findBackendFactory, getKernel, getKernelsForBackend, registerBackend, registerKernel } from "@tensorflow/tfjs-core";
import { loadNativeAddon, nativeHas } from "./addon.js";
import { NATIVE_BACKEND, NATIVE_KERNEL_CONFIGS, NATIVE_KERNEL_REQUIRES, saveWasmOriginal } from "./kernels.js";
import { nativeAdamWStep } from "./optimizer.js";
import { trackPackedWeights } from "./packed-weights.js";
import { registerAdamWAccelerator } from "../training/adamw.js";

/** Above wasm's (2) and cpu's (1): an app that imports `@proj/tensor-kernels/native` gets it by default. */
export const NATIVE_PRIORITY = 3;

const WASM_PACKAGE = "@tensorflow/tfjs-backend-wasm";

/**
 * Registers the native kernels, then every wasm kernel that `native` has no kernel for (wasm's own and those our
 * `register` entry added for wasm: our fused ops' gradients, UnsortedSegmentSum). Idempotent.
 */
export function installNativeKernels(): void {
  for (const config of NATIVE_KERNEL_CONFIGS) {
    const requires = NATIVE_KERNEL_REQUIRES[config.kernelName];
    if (requires !== undefined && !nativeHas(requires)) continue;
    saveWasmOriginal(config.kernelName);
    if (getKernel(config.kernelName, NATIVE_BACKEND) == null) registerKernel(config);
  }
  for (const config of getKernelsForBackend("wasm")) {
    if (getKernel(config.kernelName, NATIVE_BACKEND) == null) registerKernel({ ...config, backendName: NATIVE_BACKEND });
  }
}

/**
 * Registers the `native` backend with tfjs when the addon loaded; returns whether it did (a second call changes
 * nothing and returns true).
 */
export function registerNativeBackend(): boolean {
  if (loadNativeAddon() === undefined) return false;
  registerAdamWAccelerator(nativeAdamWStep); // AdamW.step updates in place on the native heap (declines elsewhere)
  if (findBackendFactory(NATIVE_BACKEND) != null) return true;
  registerBackend(
    NATIVE_BACKEND,
    async () => {
      if (findBackendFactory("wasm") == null) {
        const specifier = WASM_PACKAGE; // computed: bundlers leave the optional backend package alone
        await import(/* @vite-ignore */ specifier);
      }
      const wasmFactory = findBackendFactory("wasm");
      if (wasmFactory == null) throw new Error(`the native backend needs ${WASM_PACKAGE}, which did not register "wasm"`);
      installNativeKernels();
      const backend = await wasmFactory();
      trackPackedWeights(backend as unknown as Parameters<typeof trackPackedWeights>[0]);
      return backend;
    },
    NATIVE_PRIORITY,
  );
  return true;
}
