/**
 * `@proj/tensor-kernels/native`: native CPU kernels for Node (a C++ addon built at install) behind a tfjs backend
 * named `native`. Importing this entry registers our fused kernels and gradients (as `@proj/tensor-kernels/register`
 * does) and, when the addon loaded, the `native` backend; `setupBackend()` then picks it in Node. When the addon
 * is missing (no compiler at install) it prints one warning and everything runs on wasm.
 *
 * Threads: PROJ_NATIVE_THREADS (default: every CPU) or `setNativeThreads(n)`; results do not depend on it.
 */
import "../register.js";
import { nativeUnavailableReason, setNativeThreads } from "./addon.js";
import { registerNativeBackend } from "./backend.js";

// Backend
export { NATIVE_BACKEND, NATIVE_KERNEL_CONFIGS } from "./kernels.js";
export { installNativeKernels, registerNativeBackend, NATIVE_PRIORITY } from "./backend.js";

// Addon: status, configuration and checked kernels on ArrayBuffer memory
export {
  ACTIVATION_CODES,
  measureFmaPeak,
  nativeAttention,
  nativeConv2d,
  nativeExp,
  nativeGemm,
  nativeGroupNorm,
  nativeGroupNormGrad,
  nativeIsa,
  nativeLayerNorm,
  nativeThreads,
  nativeUnavailableReason,
  setNativeIsa,
  setNativeThreads,
} from "./addon.js";
export type { ConvKind, GemmCall, NativeActivation, NativeConvGeometry, NativeIsa } from "./addon.js";

/** Whether the `native` backend is available in this process. */
export const nativeAvailable: boolean = registerNativeBackend();

if (!nativeAvailable) {
  console.warn(`@proj/tensor-kernels/native: ${nativeUnavailableReason()}; using wasm instead`);
} else if (typeof process !== "undefined" && process.env.PROJ_NATIVE_THREADS) {
  setNativeThreads(Number(process.env.PROJ_NATIVE_THREADS));
}
