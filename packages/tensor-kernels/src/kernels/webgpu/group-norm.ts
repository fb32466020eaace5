/**
 * groupNorm (+ SiLU) on WebGPU, x viewed as [N, S, C] (channels innermost). Each (sample, group) — a "row" — holds
 * count = S·C/G elements; its positions are split into K chunks of about CHUNK elements. Up to three programs:
 * 1. partial: one workgroup of 256 invocations per (row, chunk). The invocations walk the chunk's positions and the
 *    group's channels (no division per element); a tree reduction in workgroup memory gives the chunk's mean, a
 *    second pass and reduction its sum of squared deviations M2 (two passes, as the reference computes them). Both
 *    passes work on x − k, k the chunk's first element, so a large common offset costs no digits relative to σ in
 *    float32. Writes (k, mean of x − k, M2) per chunk.
 * 2. merge (only when K > 1): one invocation per row combines its chunks with Chan et al.'s pairwise formulas around
 *    the first chunk's k_0: m = Σ n_j·d_j / n with d_j = (k_j − k_0) + mean_j, M2 = Σ M2_j + Σ n_j·(d_j − m)².
 *    Writes (k_0, m, M2) per row: μ = k_0 + m, σ² = M2/n.
 * 3. apply: one invocation per element (workgroups of 64, no barriers), y = ((x − k_0) − m)·r·γ_c + β_c with
 *    r = 1/√(M2/n + ε), then SiLU.
 * Why chunks: at the unCLIP decoder's shapes one workgroup per row gives only N·G = 64…128 workgroups, each looping
 * over 4k–32k elements. GPU time on an H100 (Dawn on Vulkan, timestamp queries, SiLU, [4|2, 32|64, 32|64, 128|256],
 * 32 groups): one workgroup per row 108–444 µs, chunks of 2048 / 4096 / 8192 elements 118–344 / 103–311 / 103–307 µs,
 * the tfjs composition 411–928 µs; a lone element-wise tf.add(x, x) 26–41 µs.
 */
import type { KernelBackend, KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { GroupNorm, type GroupNormAttrs } from "../../ops/group-norm.js";
import { flatLayout, runProgram, workgroupSumWgsl, type WgslProgram } from "./program.js";

const PARTIAL_WG = 256;
const MERGE_WG = 64;
const APPLY_WG = 64;
/**
 * Inputs are bound as flat 1-D views: the backend's pipeline key includes whether each input's shape equals the
 * output's and its broadcast dims, which for these (sample, group)-indexed tensors would otherwise vary with N, G
 * and K (e.g. K = 1 makes the partials the same shape as the stats) and compile needless variants.
 */
function flat(t: TensorInfo): TensorInfo {
  return { dataId: t.dataId, shape: [t.shape.reduce((a, d) => a * d, 1)], dtype: t.dtype };
}

/** Target elements per chunk (16 per invocation of a partial workgroup). */
const CHUNK = 4096;
/** Floats per chunk in the partials and per row in the stats. */
const STATS = 3;

/** x [N, …, C] → partials [N·G·K, 3]: (k, mean of x − k, M2) per chunk of positions of each (sample, group). */
function groupNormPartialProgram(chunksTotal: number): WgslProgram {
  const WG = PARTIAL_WG;
  return {
    variableNames: ["x"],
    outputShape: [chunksTotal, STATS],
    shaderKey: `projGroupNormPartial_${WG}_${STATS}`,
    dispatchLayout: flatLayout(2),
    dispatch: [chunksTotal, 1, 1],
    workgroupSize: [WG, 1, 1],
    uniforms: "chunksTotal : i32, chunks : i32, chunkPositions : i32, positions : i32, channels : i32, perGroup : i32,",
    getUserCode: () => `
var<workgroup> partial : array<f32, ${WG}>;

fn main(index : i32) {
  let chunk = index / ${WG}; // (row, j) = (chunk / K, chunk % K); row = (sample, group) = (row / G, row % G)
  let lane = i32(localId.x);
  let inRange = chunk < uniforms.chunksTotal;
  let channels = uniforms.channels;
  let perGroup = uniforms.perGroup;
  let groups = channels / perGroup;
  let row = chunk / uniforms.chunks;
  let n = row / groups;
  let base = n * uniforms.positions * channels + (row - n * groups) * perGroup; // x[n, 0, g·C/G]
  let first = (chunk - row * uniforms.chunks) * uniforms.chunkPositions; // positions [first, last) of the chunk
  let last = min(first + uniforms.chunkPositions, uniforms.positions);
  let count = f32((last - first) * perGroup);
  // Lanes as a grid of rowLanes × lanesPerRow: each lane walks every rowLanes-th position of the chunk and, within
  // it, every lanesPerRow-th channel of the group (no division per element; idle lanes when perGroup ∤ ${WG}).
  let lanesPerRow = min(perGroup, ${WG});
  let rowLanes = ${WG} / lanesPerRow;
  let rowLane = lane / lanesPerRow;
  let channelLane = lane - rowLane * lanesPerRow;
  let walks = inRange && rowLane < rowLanes;
  var k = 0.0;
  if (inRange) { k = x[base + first * channels]; }

  var total = 0.0;
  if (walks) {
    for (var s = first + rowLane; s < last; s = s + rowLanes) {
      for (var c = channelLane; c < perGroup; c = c + lanesPerRow) { total = total + (x[base + s * channels + c] - k); }
    }
  }
  partial[lane] = total;
  ${workgroupSumWgsl(WG)}
  let m = partial[0] / count; // the chunk's mean of x − k
  workgroupBarrier();

  var squares = 0.0;
  if (walks) {
    for (var s = first + rowLane; s < last; s = s + rowLanes) {
      for (var c = channelLane; c < perGroup; c = c + lanesPerRow) {
        let d = (x[base + s * channels + c] - k) - m;
        squares = squares + d * d;
      }
    }
  }
  partial[lane] = squares;
  ${workgroupSumWgsl(WG)}
  if (inRange && lane == 0) {
    setOutputAtIndex(chunk * ${STATS}, k);
    setOutputAtIndex(chunk * ${STATS} + 1, m);
    setOutputAtIndex(chunk * ${STATS} + 2, partial[0]);
  }
}`,
  };
}

/** partials [N·G·K, 3] → stats [N·G, 3]: (k_0, mean of x − k_0, M2) per (sample, group). Only run when K > 1. */
function groupNormMergeProgram(rows: number): WgslProgram {
  return {
    variableNames: ["partials"],
    outputShape: [rows, STATS],
    shaderKey: `projGroupNormMerge_${MERGE_WG}_${STATS}`,
    dispatchLayout: flatLayout(2),
    dispatch: [Math.ceil(rows / MERGE_WG), 1, 1],
    workgroupSize: [MERGE_WG, 1, 1],
    uniforms: "rows : i32, chunks : i32, chunkPositions : i32, positions : i32, perGroup : i32,",
    getUserCode: () => `
fn chunkLength(j : i32) -> f32 { // positions in chunk j (the group's channels are a common factor)
  return f32(min(uniforms.chunkPositions, uniforms.positions - j * uniforms.chunkPositions));
}

fn main(index : i32) {
  let row = index;
  if (row < uniforms.rows) {
    let first = row * uniforms.chunks * ${STATS};
    let k0 = partials[first];
    var total = 0.0;
    for (var j = 0; j < uniforms.chunks; j = j + 1) {
      let at = first + j * ${STATS};
      total = total + chunkLength(j) * ((partials[at] - k0) + partials[at + 1]);
    }
    let m = total / f32(uniforms.positions); // the row's mean of x − k0
    var squares = 0.0;
    for (var j = 0; j < uniforms.chunks; j = j + 1) {
      let at = first + j * ${STATS};
      let d = (partials[at] - k0) + partials[at + 1] - m;
      squares = squares + partials[at + 2] + chunkLength(j) * f32(uniforms.perGroup) * d * d;
    }
    setOutputAtIndex(row * ${STATS}, k0);
    setOutputAtIndex(row * ${STATS} + 1, m);
    setOutputAtIndex(row * ${STATS} + 2, squares);
  }
}`,
  };
}

/** y = ((x − k) − m)·r·γ + β with r = 1/√(M2/count + ε) (then SiLU), one invocation per element of x. */
function groupNormApplyProgram(shape: number[], size: number, silu: boolean): WgslProgram {
  return {
    variableNames: ["x", "stats", "gamma", "beta"],
    outputShape: shape,
    shaderKey: `projGroupNormApply_${silu ? "silu" : "none"}_${APPLY_WG}_${STATS}`,
    dispatchLayout: flatLayout(shape.length),
    dispatch: [Math.ceil(size / APPLY_WG), 1, 1],
    workgroupSize: [APPLY_WG, 1, 1],
    size: true,
    uniforms: "channels : i32, perGroup : i32, sampleSize : i32, count : f32, epsilon : f32,",
    getUserCode: () => `
fn main(index : i32) {
  if (index < uniforms.size) {
    let c = index % uniforms.channels;
    let at = ((index / uniforms.sampleSize) * (uniforms.channels / uniforms.perGroup) + c / uniforms.perGroup) * ${STATS};
    let r = inverseSqrt(stats[at + 2] / uniforms.count + uniforms.epsilon);
    let y = ((x[index] - stats[at]) - stats[at + 1]) * r * gamma[c] + beta[c];
    setOutputAtIndex(index, ${silu ? "y / (1.0 + exp(-y))" : "y"});
  }
}`,
  };
}

export const groupNormWebGpuConfig: KernelConfig = {
  kernelName: GroupNorm,
  backendName: "webgpu",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = backend as KernelBackend;
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { groups, epsilon, activation } = attrs as unknown as GroupNormAttrs;
    const shape = x.shape.slice();
    const size = shape.reduce((a, d) => a * d, 1);
    if (size === 0) {
      const webgpu = backend as { makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): TensorInfo };
      return webgpu.makeTensorInfo(shape, "float32", new Float32Array(0));
    }
    const samples = shape[0]!;
    const channels = shape[shape.length - 1]!;
    const perGroup = channels / groups;
    const positions = size / (samples * channels);
    const rows = samples * groups;
    const count = positions * perGroup; // elements per (sample, group)
    const chunkPositions = Math.ceil(positions / Math.ceil(count / CHUNK)); // balanced chunks of ≤ ~CHUNK elements
    const chunks = Math.ceil(positions / chunkPositions); // none empty
    const int = (v: number) => ({ type: "int32" as const, data: [v] });
    const partials = runProgram(b, groupNormPartialProgram(rows * chunks), [flat(x)], [
      int(rows * chunks), int(chunks), int(chunkPositions), int(positions), int(channels), int(perGroup),
    ]);
    let stats = partials; // one chunk per (sample, group): the partials are the stats
    try {
      if (chunks > 1) {
        stats = runProgram(b, groupNormMergeProgram(rows), [flat(partials)], [
          int(rows), int(chunks), int(chunkPositions), int(positions), int(perGroup),
        ]);
      }
      return runProgram(b, groupNormApplyProgram(shape, size, activation === "silu"), [x, flat(stats), gamma, beta], [
        int(channels), int(perGroup), int(positions * channels),
        { type: "float32", data: [count] }, { type: "float32", data: [epsilon] },
      ]);
    } finally {
      b.disposeData(partials.dataId);
      if (stats !== partials) b.disposeData(stats.dataId);
    }
  },
};
