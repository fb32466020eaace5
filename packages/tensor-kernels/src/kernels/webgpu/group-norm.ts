/**
 * groupNorm (+ SiLU) on WebGPU, x viewed as [N, S, C] (channels innermost), in two programs:
 * 1. stats: one workgroup of 256 invocations per (sample, group). Each invocation sums a strided slice of the
 *    group's S·C/G elements; a tree reduction in workgroup memory gives the mean, a second pass and reduction the
 *    biased σ² (two passes, as the reference computes them). Both passes work on x − k, k the group's first element:
 *    in float32 a large offset would otherwise cost the mean digits relative to σ (the host kernels accumulate in
 *    float64 and need no shift). Writes [N·G, 3] = (k, m, r) with μ = k + m, r = 1/√(σ² + ε).
 * 2. apply: one invocation per element (workgroups of 64, no barriers), y = ((x − k) − m)·r·γ_c + β_c, then SiLU.
 * Splitting keeps the element-wise half, which reads and writes the most, fully parallel: at the unCLIP decoder's
 * shapes (N·G = 32…128 groups of 32×32…64×64 × 4…8 channels) a workgroup per group alone would occupy few cores.
 */
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { GroupNorm, type GroupNormAttrs } from "../../ops/group-norm.js";
import { flatLayout, runProgram, workgroupSumWgsl, type WgslProgram } from "./program.js";

const STATS_WG = 256;
const APPLY_WG = 64;
/** Floats per (sample, group) in the intermediate stats tensor. */
const STATS = 3;

/** x [N, …, C] → stats [N·G, 3]: (k, m, r) per (sample, group); μ = k + m. */
function groupNormStatsProgram(rows: number): WgslProgram {
  const WG = STATS_WG;
  return {
    variableNames: ["x"],
    outputShape: [rows, STATS],
    shaderKey: `projGroupNormStats_${WG}`,
    dispatchLayout: flatLayout(2),
    dispatch: [rows, 1, 1],
    workgroupSize: [WG, 1, 1],
    uniforms: "rows : i32, positions : i32, channels : i32, perGroup : i32, epsilon : f32,",
    getUserCode: () => `
var<workgroup> partial : array<f32, ${WG}>;

fn main(index : i32) {
  let row = index / ${WG}; // (sample, group) = (row / G, row % G)
  let lane = i32(localId.x);
  let inRange = row < uniforms.rows;
  let channels = uniforms.channels;
  let perGroup = uniforms.perGroup;
  let groups = channels / perGroup;
  let n = row / groups;
  let base = n * uniforms.positions * channels + (row - n * groups) * perGroup; // x[n, 0, g·C/G]
  let count = uniforms.positions * perGroup;
  var k = 0.0;
  if (inRange) { k = x[base]; }

  var total = 0.0;
  if (inRange) {
    for (var e = lane; e < count; e = e + ${WG}) {
      let s = e / perGroup;
      total = total + (x[base + s * channels + (e - s * perGroup)] - k);
    }
  }
  partial[lane] = total;
  ${workgroupSumWgsl(WG)}
  let m = partial[0] / f32(count); // the mean of x − k
  workgroupBarrier();

  var squares = 0.0;
  if (inRange) {
    for (var e = lane; e < count; e = e + ${WG}) {
      let s = e / perGroup;
      let d = (x[base + s * channels + (e - s * perGroup)] - k) - m;
      squares = squares + d * d;
    }
  }
  partial[lane] = squares;
  ${workgroupSumWgsl(WG)}
  if (inRange && lane == 0) {
    setOutputAtIndex(row * ${STATS}, k);
    setOutputAtIndex(row * ${STATS} + 1, m);
    setOutputAtIndex(row * ${STATS} + 2, inverseSqrt(partial[0] / f32(count) + uniforms.epsilon));
  }
}`,
  };
}

/** y = ((x − k) − m)·r·γ + β (then SiLU), one invocation per element of x. */
function groupNormApplyProgram(shape: number[], size: number, silu: boolean): WgslProgram {
  return {
    variableNames: ["x", "stats", "gamma", "beta"],
    outputShape: shape,
    shaderKey: `projGroupNormApply_${silu ? "silu" : "none"}_${APPLY_WG}`,
    dispatchLayout: flatLayout(shape.length),
    dispatch: [Math.ceil(size / APPLY_WG), 1, 1],
    workgroupSize: [APPLY_WG, 1, 1],
    size: true,
    uniforms: "channels : i32, perGroup : i32, sampleSize : i32,",
    getUserCode: () => `
fn main(index : i32) {
  if (index < uniforms.size) {
    let c = index % uniforms.channels;
    let row = (index / uniforms.sampleSize) * (uniforms.channels / uniforms.perGroup) + c / uniforms.perGroup;
    let at = row * ${STATS};
    let y = ((x[index] - stats[at]) - stats[at + 1]) * stats[at + 2] * gamma[c] + beta[c];
    setOutputAtIndex(index, ${silu ? "y / (1.0 + exp(-y))" : "y"});
  }
}`,
  };
}

export const groupNormWebGpuConfig: KernelConfig = {
  kernelName: GroupNorm,
  backendName: "webgpu",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { groups, epsilon, activation } = attrs as unknown as GroupNormAttrs;
    const shape = x.shape.slice();
    const samples = shape[0]!;
    const channels = shape[shape.length - 1]!;
    const size = shape.reduce((a, b) => a * b, 1);
    const positions = size === 0 ? 0 : size / (samples * channels);
    const rows = samples * groups;
    const stats = runProgram(backend, groupNormStatsProgram(rows), [x], [
      { type: "int32", data: [rows] },
      { type: "int32", data: [positions] },
      { type: "int32", data: [channels] },
      { type: "int32", data: [channels / groups] },
      { type: "float32", data: [epsilon] },
    ]);
    const y = runProgram(backend, groupNormApplyProgram(shape, size, activation === "silu"), [x, stats, gamma, beta], [
      { type: "int32", data: [channels] },
      { type: "int32", data: [channels / groups] },
      { type: "int32", data: [positions * channels] },
    ]);
    backend.disposeData(stats.dataId);
    return y;
  },
};
