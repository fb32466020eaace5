import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { LayerNormAttrs } from "../../ops/layer-norm.js";
import type { HostKernelBody } from "./kernel-config.js";
import { layerNormHost } from "./layer-norm.js";

export const layerNormHostBody: HostKernelBody = ({ inputs, attrs, run }) => {
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { epsilon } = attrs as unknown as LayerNormAttrs;
  const channels = x.shape[x.shape.length - 1]!;
  const [out] = run([x, gamma, beta], [x.shape.slice()], ([xs, g, b], [y]) => layerNormHost(xs!, g!, b!, y!, channels, epsilon));
  return out!;
};
