/**
 * `@proj/tensor-kernels/native`: native CPU kernels for Node (a C++ addon built at install) behind a tfjs backend
 * named `native`. Importing this entry registers our fused kernels and gradients (as `@proj/tensor-kernels/register`
 * does) and, when the addon loaded, the `native` backend; `setupBackend()` then picks it in Node. When the addon
 * is missing (no compiler at install) it prints one warning and everything runs on wasm.
 *
 * Threads: PROJ_NATIVE_THREADS (default: every CPU) or `setNativeThreads(n)`; results do not depend on it.
 *
 * GPU: when nvcc was present at install, a CUDA build of GEMM, layer norm, group norm, softmax and attention sits
 * beside the CPU addon; `setNativeDevice("cuda")` (or PROJ_NATIVE_DEVICE=cuda) sends those kernels to the GPU, with
 * host ↔ device copies per call. `cudaAvailable()` / `cudaUnavailableReason()` say whether it can.
 */
import "../register.js";
import { cudaAvailable, cudaUnavailableReason, nativeUnavailableReason, setNativeDevice, setNativeThreads } from "./addon.js";
import { registerNativeBackend } from "./backend.js";

// Backend
export { NATIVE_BACKEND, NATIVE_KERNEL_CONFIGS } from "./kernels.js";
export { installNativeKernels, registerNativeBackend, NATIVE_PRIORITY } from "./backend.js";

// Optimizer: AdamW's update in place on the native heap
export { nativeAdamWStep } from "./optimizer.js";
export type { AdamWStepOptions } from "./optimizer.js";

// Addon: status, configuration and checked kernels on ArrayBuffer memory
export {
  ACTIVATION_CODES,
  GRADIENT_ACTIVATIONS,
  measureFmaPeak,
  nativeActivationGrad,
  nativeAdamW,
  nativeAttention,
  nativeAttentionGrad,
  nativeConv2d,
  nativeExp,
  nativeGemm,
  nativeGroupNorm,
  nativeGroupNormGrad,
  nativeIsa,
  nativeLayerNorm,
  nativeSoftmax,
  nativeThreads,
  nativeUnavailableReason,
  setNativeIsa,
  setNativeThreads,
} from "./addon.js";
export type { AdamWCall, ConvKind, GemmCall, NativeActivation, NativeAttentionShape, NativeConvGeometry, NativeIsa } from "./addon.js";

// CUDA: the GPU build of the hot kernels
export { CUDA_KERNELS, cudaAvailable, cudaCompiled, cudaStatus, cudaUnavailableReason, nativeDevice, setNativeDevice } from "./addon.js";
export type { CudaStatus, NativeDevice } from "./addon.js";

/** Whether the `native` backend is available in this process. */
export const nativeAvailable: boolean = registerNativeBackend();

if (!nativeAvailable) {
  console.warn(`@proj/tensor-kernels/native: ${nativeUnavailableReason()}; using wasm instead`);
} else if (typeof process !== "undefined") {
  if (process.env.PROJ_NATIVE_THREADS) setNativeThreads(Number(process.env.PROJ_NATIVE_THREADS));
  if (process.env.PROJ_NATIVE_DEVICE === "cuda") {
    if (cudaAvailable()) setNativeDevice("cuda");
    else console.warn(`@proj/tensor-kernels/native: PROJ_NATIVE_DEVICE=cuda but ${cudaUnavailableReason()}; kernels run on the CPU`);
  }
}
