/** layerNorm on wasm: our SIMD128 kernel on the backend's heap (kernels/wasm-simd/layer-norm.wat). */
import type { KernelBackend, KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { LayerNorm, type LayerNormAttrs } from "../../ops/layer-norm.js";
import { heapOffset, simdModule } from "../wasm-simd/instance.js";
import { asWasm } from "./wasm-heap.js";
import LAYER_NORM_WASM from "../wasm-simd/layer-norm.generated.js";

interface LayerNormSimd {
  layerNorm(x: number, gamma: number, beta: number, out: number, rows: number, channels: number, epsilon: number): void;
}

export const layerNormWasmConfig: KernelConfig = {
  kernelName: LayerNorm,
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = backend as KernelBackend;
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { epsilon } = attrs as unknown as LayerNormAttrs;
    const channels = x.shape[x.shape.length - 1]!;
    const rows = x.shape.reduce((a, d) => a * d, 1) / channels;
    const [px, pg, pb] = [heapOffset(b, x), heapOffset(b, gamma), heapOffset(b, beta)]; // inputs first (see heapOffset)
    const out = asWasm(b).makeOutput(x.shape.slice(), "float32");
    simdModule<LayerNormSimd>(b, "layer-norm", LAYER_NORM_WASM).layerNorm(px, pg, pb, heapOffset(b, out), rows, channels, epsilon);
    return out;
  },
};
