/**
 * attention on WebGPU, FlashAttention-style (Dao et al. 2022, Algorithm 1): the [Tq, Tk] scores never reach global
 * memory.
 *
 * - One workgroup of QUERY_BLOCK (32) invocations per (batch·head, block of 32 queries); each invocation owns one
 *   query row: q·scale and the output accumulator acc[D] live in registers (private arrays), with the running max m
 *   and running sum l of the online softmax.
 * - The keys are walked in tiles of KEY_TILE rows: the workgroup stages the tile's K and V rows in workgroup memory
 *   (2 · KEY_TILE · D floats ≤ 16 KB), then each invocation scores its query against the tile, and rescales
 *   acc and l by exp(m_old − m_new) once per tile before adding p_j · v_j.
 * - causal: a query stops at its own index, and the workgroup stops at the tile of its last query (the tile count
 *   is made workgroup-uniform with `workgroupUniformLoad`, as barriers require).
 * - The additive mask is read through its broadcast strides over [B, H, Tq, Tk] (uniform `maskStrides`, 0 on
 *   broadcast axes), so [B, 1, 1, Tk] padding masks are never expanded.
 * - A row that saw only −∞ scores keeps l = 0 and is written as zeros.
 *
 * Baked into the WGSL (hence into shaderKey): D, KEY_TILE (a function of D), QUERY_BLOCK, causal, masked. Sizes B,
 * H, Tq, Tk, the scale and the mask strides are uniforms; inputs are bound as flat arrays so that the backend's
 * cache key does not depend on which of them broadcast against the output.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { Attention, KERNEL_MAX_HEAD_SIZE, MaskedAttention, maskStrides, type AttentionAttrs } from "../../ops/attention.js";
import { flatLayout, runProgram, type WgslProgram } from "./program.js";

/** Queries per workgroup, one per invocation. */
const QUERY_BLOCK = 32;
/** The largest head size the kernel takes (registers hold two rows of D floats). */
export const MAX_HEAD_SIZE = KERNEL_MAX_HEAD_SIZE.webgpu!;

/** Keys per tile: up to 32, with the K and V tiles together within 16 KB of workgroup memory. */
export function keyTile(headSize: number): number {
  return Math.max(1, Math.min(32, Math.floor(2048 / headSize)));
}

interface Variant {
  headSize: number;
  causal: boolean;
  masked: boolean;
}

export function attentionShaderKey({ headSize, causal, masked }: Variant): string {
  return `projAttention_q${QUERY_BLOCK}_k${keyTile(headSize)}_d${headSize}_${causal ? "causal" : "full"}_${masked ? "mask" : "nomask"}`;
}

function attentionProgram(outputShape: number[], workgroups: number, variant: Variant): WgslProgram {
  const { headSize: D, causal, masked } = variant;
  const BQ = QUERY_BLOCK;
  const BK = keyTile(D);
  return {
    variableNames: masked ? ["qIn", "kIn", "vIn", "maskIn"] : ["qIn", "kIn", "vIn"],
    outputShape,
    shaderKey: attentionShaderKey(variant),
    dispatchLayout: flatLayout(outputShape.length),
    dispatch: [workgroups, 1, 1],
    workgroupSize: [BQ, 1, 1],
    uniforms: "batchHeads : i32, heads : i32, queries : i32, keys : i32, scale : f32, maskStrides : vec4<i32>,",
    getUserCode: () => `
var<workgroup> kTile : array<f32, ${BK * D}>;
var<workgroup> vTile : array<f32, ${BK * D}>;
${causal ? "var<workgroup> tileCount : i32;" : ""}

fn main(index : i32) {
  let lane = i32(localIndex);
  let group = index / ${BQ};
  let blocks = (uniforms.queries + ${BQ - 1}) / ${BQ};
  let bh = group / blocks;
  let firstQuery = (group - bh * blocks) * ${BQ};
  let query = firstQuery + lane;
  let headOk = bh < uniforms.batchHeads;
  let rowOk = headOk && query < uniforms.queries;
  let keys = uniforms.keys;
  let kvBase = bh * keys * ${D};
  let rowBase = (bh * uniforms.queries + query) * ${D};
  let negInf = -uniforms.INFINITY;
  ${masked ? "let maskRow = (bh / uniforms.heads) * uniforms.maskStrides.x + (bh % uniforms.heads) * uniforms.maskStrides.y + query * uniforms.maskStrides.z;" : ""}

  var qRow : array<f32, ${D}>; // q_i · scale
  var acc : array<f32, ${D}>; // Σ_j exp(s_j − m) v_j
  var m = negInf; // running max of the scores
  var l = 0.0; // running Σ_j exp(s_j − m)
  if (rowOk) {
    for (var c = 0; c < ${D}; c++) { qRow[c] = qIn[rowBase + c] * uniforms.scale; }
  }

  ${
    causal
      ? `if (lane == 0) {
    let lastKey = min(firstQuery + ${BQ}, uniforms.queries); // keys [0, lastKey) are seen by this block
    tileCount = min((keys + ${BK - 1}) / ${BK}, (lastKey + ${BK - 1}) / ${BK});
  }
  let tiles = workgroupUniformLoad(&tileCount);`
      : `let tiles = (keys + ${BK - 1}) / ${BK};`
  }
  for (var t = 0; t < tiles; t++) {
    let tileStart = t * ${BK};
    let tileKeys = min(${BK}, keys - tileStart);
    if (headOk) {
      let src = kvBase + tileStart * ${D};
      for (var e = lane; e < tileKeys * ${D}; e += ${BQ}) {
        kTile[e] = kIn[src + e];
        vTile[e] = vIn[src + e];
      }
    }
    workgroupBarrier();
    if (rowOk) {
      let keyEnd = ${causal ? "min(tileKeys, query - tileStart + 1)" : "tileKeys"};
      var s : array<f32, ${BK}>;
      var tileMax = negInf;
      for (var j = 0; j < keyEnd; j++) {
        var dot = 0.0;
        for (var c = 0; c < ${D}; c++) { dot += qRow[c] * kTile[j * ${D} + c]; }
        ${masked ? "dot += maskIn[maskRow + (tileStart + j) * uniforms.maskStrides.w];" : ""}
        s[j] = dot;
        tileMax = max(tileMax, dot);
      }
      if (tileMax > m) {
        let alpha = exp(m - tileMax); // 0 while m = −∞
        l *= alpha;
        for (var c = 0; c < ${D}; c++) { acc[c] *= alpha; }
        m = tileMax;
      }
      if (m > negInf) {
        for (var j = 0; j < keyEnd; j++) {
          let p = exp(s[j] - m);
          l += p;
          for (var c = 0; c < ${D}; c++) { acc[c] += p * vTile[j * ${D} + c]; }
        }
      }
    }
    workgroupBarrier();
  }

  if (rowOk) {
    let inv = select(0.0, 1.0 / l, l > 0.0); // l = 0: every score was −∞
    for (var c = 0; c < ${D}; c++) { setOutputAtIndex(rowBase + c, acc[c] * inv); }
  }
}`,
  };
}

/** The same data as a flat array, so the program's cache key sees rank 1 whatever the shapes. */
const flat = (t: TensorInfo): TensorInfo => ({ dataId: t.dataId, shape: [t.shape.reduce((a, b) => a * b, 1)], dtype: t.dtype });

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, mask } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo; mask?: TensorInfo };
  const { scale, causal } = attrs as unknown as AttentionAttrs;
  const [batch, heads, queries, headSize] = q.shape as [number, number, number, number];
  const keys = k.shape[2]!;
  if (headSize > MAX_HEAD_SIZE) throw new RangeError(`attention: the WebGPU kernel takes D ≤ ${MAX_HEAD_SIZE}, got ${headSize}`);
  const strides = mask === undefined ? [0, 0, 0, 0] : maskStrides(mask.shape, [batch, heads, queries, keys]);
  const workgroups = batch * heads * Math.ceil(queries / QUERY_BLOCK);
  const program = attentionProgram(q.shape.slice(), workgroups, { headSize, causal, masked: mask !== undefined });
  const ins = (mask === undefined ? [q, k, v] : [q, k, v, mask]).map(flat);
  return runProgram(backend, program, ins, [
    { type: "int32", data: [batch * heads] },
    { type: "int32", data: [heads] },
    { type: "int32", data: [queries] },
    { type: "int32", data: [keys] },
    { type: "float32", data: [scale] },
    { type: "int32", data: strides },
  ]);
};

export const attentionWebGpuConfig: KernelConfig = { kernelName: Attention, backendName: "webgpu", kernelFunc };
export const maskedAttentionWebGpuConfig: KernelConfig = { kernelName: MaskedAttention, backendName: "webgpu", kernelFunc };
