import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { GroupNormAttrs } from "../../ops/group-norm.js";
import type { HostKernelBody } from "./kernel-config.js";
import { groupNormHost } from "./group-norm.js";

export const groupNormHostBody: HostKernelBody = ({ inputs, attrs, run }) => {
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { groups, epsilon, activation } = attrs as unknown as GroupNormAttrs;
  const samples = x.shape[0]!;
  const channels = x.shape[x.shape.length - 1]!;
  const [out] = run([x, gamma, beta], [x.shape.slice()], ([xs, g, b], [y]) =>
    groupNormHost(xs!, g!, b!, y!, samples, channels, groups, epsilon, activation === "silu"),
  );
  return out!;
};
