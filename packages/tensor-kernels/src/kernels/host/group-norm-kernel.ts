import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { GroupNormAttrs } from "../../ops/group-norm.js";
import type { HostKernelBody } from "./kernel-config.js";
import { groupNormGradHost, groupNormHost, groupNormStatsHost } from "./group-norm.js";

/** Forward: x [N, …, C] → y. */
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

/** Gradient: (dy, x, gamma, beta) → [dx, dgamma, dbeta], SiLU's σ computed in the loop. */
export const groupNormGradHostBody: HostKernelBody = ({ inputs, attrs, run }) => {
  const { dy, x, gamma, beta } = inputs as { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { groups, epsilon, activation } = attrs as unknown as GroupNormAttrs;
  const samples = x.shape[0]!;
  const channels = x.shape[x.shape.length - 1]!;
  return run([x, gamma, beta, dy], [x.shape.slice(), [channels], [channels]], ([xs, g, b, d], [dx, dg, db]) => {
    const stats = groupNormStatsHost(xs!, samples, channels, groups, epsilon);
    groupNormGradHost(xs!, g!, b!, d!, stats, null, dx!, dg!, db!, samples, channels, groups, activation === "silu");
  });
};
