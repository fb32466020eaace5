import type { TensorInfo } from "@tensorflow/tfjs-core";
import { maskStrides, type AttentionAttrs } from "../../ops/attention.js";
import { attentionHost, type AttentionDims } from "./attention.js";
import type { HostKernelBody } from "./kernel-config.js";

/** Sizes of a call from its q and k. */
export function attentionDims(q: TensorInfo, k: TensorInfo): AttentionDims {
  const [batch, heads, queries, headSize] = q.shape as [number, number, number, number];
  return { batch, heads, queries, keys: k.shape[2]!, headSize };
}

/** Serves both kernel names: `mask` is among the inputs of `ProjMaskedAttention` only. */
export const attentionHostBody: HostKernelBody = ({ inputs, attrs, run }) => {
  const { q, k, v, mask } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo; mask?: TensorInfo };
  const { scale, causal } = attrs as unknown as AttentionAttrs;
  const dims = attentionDims(q, k);
  const ins = mask === undefined ? [q, k, v] : [q, k, v, mask];
  const strides = mask === undefined ? null : maskStrides(mask.shape, [dims.batch, dims.heads, dims.queries, dims.keys]);
  const [out] = run(ins, [q.shape.slice()], ([qs, ks, vs, ms], [o]) => {
    const hostMask = strides === null ? null : { values: ms!, strides };
    attentionHost(qs!, ks!, vs!, hostMask, o!, dims, scale, causal);
  });
  return out!;
};
