/**
 * layerNorm on WebGPU: one workgroup of 64 invocations per row. Each invocation accumulates a strided slice of
 * the row, a tree reduction in workgroup memory gives the mean, a second one the variance (two passes, as the
 * reference computes it, so large offsets do not cancel), then the row is normalised and written.
 */
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import { LayerNorm, type LayerNormAttrs } from "../../ops/layer-norm.js";
import { flatLayout, runProgram, workgroupSumWgsl, type WgslProgram } from "./program.js";

const WG = 64;

function layerNormProgram(shape: number[], rows: number): WgslProgram {
  return {
    variableNames: ["x", "gamma", "beta"],
    outputShape: shape,
    shaderKey: `projLayerNorm_${WG}`,
    dispatchLayout: flatLayout(shape.length),
    dispatch: [rows, 1, 1],
    workgroupSize: [WG, 1, 1],
    uniforms: "rows : i32, channels : i32, epsilon : f32,",
    getUserCode: () => `
var<workgroup> partial : array<f32, ${WG}>;

fn main(index : i32) {
  let row = index / ${WG};
  let lane = i32(localId.x);
  let channels = uniforms.channels;
  let inRange = row < uniforms.rows;
  let base = row * channels;

  var total = 0.0;
  if (inRange) {
    for (var c = lane; c < channels; c = c + ${WG}) { total = total + x[base + c]; }
  }
  partial[lane] = total;
  ${workgroupSumWgsl(WG)}
  let mu = partial[0] / f32(channels);
  workgroupBarrier();

  var squares = 0.0;
  if (inRange) {
    for (var c = lane; c < channels; c = c + ${WG}) { let d = x[base + c] - mu; squares = squares + d * d; }
  }
  partial[lane] = squares;
  ${workgroupSumWgsl(WG)}
  let r = inverseSqrt(partial[0] / f32(channels) + uniforms.epsilon);

  if (inRange) {
    for (var c = lane; c < channels; c = c + ${WG}) {
      setOutputAtIndex(base + c, (x[base + c] - mu) * r * gamma[c] + beta[c]);
    }
  }
}`,
  };
}

export const layerNormWebGpuConfig: KernelConfig = {
  kernelName: LayerNorm,
  backendName: "webgpu",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { epsilon } = attrs as unknown as LayerNormAttrs;
    const channels = x.shape[x.shape.length - 1]!;
    const rows = x.shape.reduce((a, b) => a * b, 1) / channels;
    return runProgram(backend, layerNormProgram(x.shape.slice(), rows), [x, gamma, beta], [
      { type: "int32", data: [rows] },
      { type: "int32", data: [channels] },
      { type: "float32", data: [epsilon] },
    ]);
  },
};
