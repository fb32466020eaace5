/**
 * The conformance suite's backends (cpu, wasm, webgpu on Dawn + SwiftShader) for the CLIP parity tests: the one
 * harness of `@proj/tensor-kernels` (its src/testing, not a published entry), reached through the workspace so
 * that both packages test on the same backends with the same WebGPU error collection.
 */
export { initBackends, takeWebGpuErrors, useBackend } from "../../../tensor-kernels/src/testing/backends.js";
