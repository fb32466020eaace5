/**
 * @proj/tensor-kernels — skeleton only. Nothing is implemented yet; see README.md and issue #4.
 *
 * Planned: fused `layerNorm`, `groupNorm` (+SiLU), flash-style `attention` and `linear` with fused activations: WGSL kernels on `tfjs-backend-webgpu`, fallbacks on `wasm` and `cpu`, gradients for training, and native CPU/CUDA kernels for Node (issues #4 and #6).
 */
export {};
