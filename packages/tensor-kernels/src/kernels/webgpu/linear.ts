/**
 * linear on WebGPU: one tiled matmul whose epilogue adds the bias and applies the activation before the single
 * store of each output, y[M, N] = act(x[M, K]·W[K, N] + b).
 *
 *   - One workgroup of 64 invocations (8 × 8) per 32 × 32 output tile; each invocation accumulates a 4 × 4 block
 *     of outputs in registers, at rows ty + 8i and columns tx + 8j (interleaved, so neighbouring invocations touch
 *     neighbouring columns of W, b and y).
 *   - K is walked in steps of 16: the workgroup stages x[32 rows, 16 k] and W[16 k, 32 cols] in workgroup memory
 *     (4 KB), each invocation loading 8 elements of each; out-of-range elements are loaded as 0, so M, K and N
 *     need not be multiples of anything. Each step costs two barriers.
 *   - Epilogue: + b[n] (when the program has a bias), act(·), one store per in-range output.
 * Baked constants — tile sizes, the activation and whether there is a bias — are in the shaderKey; M, K, N are
 * uniforms. Tiles are numbered row-major over the output, and the tile is `index / 64` (not workgroupId.x), so the
 * backend may reshape a large dispatch; invocations past the last tile load zeros and store nothing, and every
 * invocation reaches every barrier.
 *
 * Tile choices, measured on an H100 through Dawn/Vulkan at CLIP shapes: a K step of 16 beat 8 and 32 (32 was up
 * to 1.7× slower); on SwiftShader 16 also compiles in ~1 s against ~3 s for 32. Against the tfjs composition
 * (matMul + add + activation ops) on that GPU: 2–10× faster with quickGelu or gelu (whose compositions are several
 * dispatches), within ~15% with silu or no activation at N = 1536–2048, and 1.9× slower at [400, 3072]·[3072, 768]:
 * a long K with a small output gives only 312 workgroups of 64 invocations, too few to fill the GPU (tfjs's own
 * matmul, which also loads vec4s, takes ~1.0 ms there against our ~1.7 ms). Split-K would fix that case but needs
 * a second pass before the epilogue.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { activationWgsl } from "../../ops/activations.js";
import { Linear, LinearNoBias, linearSizes, type LinearActivation, type LinearAttrs, type LinearInputs } from "../../ops/linear.js";
import { flatLayout, runProgram, type WgslProgram } from "./program.js";

/** Output tile rows and columns per workgroup. */
const TILE = 32;
/** K per staged step. */
const TILE_K = 16;
/** Invocations per workgroup side (8 × 8 = 64); each computes (TILE / SIDE)² = 16 outputs. */
const SIDE = 8;
const WG = SIDE * SIDE;
const PER = TILE / SIDE;

/** WGSL storing act(acc<i> + b) for output row ty + SIDE·i, columns tx + SIDE·j, where in range. */
function epilogueRow(i: number, hasBias: boolean): string {
  const stores = Array.from({ length: PER }, (_, j) => {
    const c = `col0 + tx + ${SIDE * j}`;
    return `    if (${c} < n) { setOutputAtIndex(r${i} * n + ${c}, activate(acc${i}[${j}]${hasBias ? ` + bias[${c}]` : ""})); }`;
  });
  return `  let r${i} = row0 + ty + ${SIDE * i};
  if (r${i} < m) {
${stores.join("\n")}
  }`;
}

function linearProgram(outShape: number[], tiles: number, activation: LinearActivation, hasBias: boolean): WgslProgram {
  const loadsPerInvocation = (TILE * TILE_K) / WG;
  return {
    variableNames: hasBias ? ["x", "weight", "bias"] : ["x", "weight"],
    outputShape: outShape,
    shaderKey: `projLinear_${TILE}x${TILE}x${TILE_K}_${activation}_${hasBias ? "bias" : "noBias"}`,
    dispatchLayout: flatLayout(outShape.length),
    dispatch: [tiles, 1, 1],
    workgroupSize: [WG, 1, 1],
    uniforms: "m : i32, k : i32, n : i32,",
    getUserCode: () => `
var<workgroup> xTile : array<f32, ${TILE * TILE_K}>; // [row][k]
var<workgroup> wTile : array<f32, ${TILE_K * TILE}>; // [k][col]

${activationWgsl(activation)}

fn main(index : i32) {
  let m = uniforms.m;
  let k = uniforms.k;
  let n = uniforms.n;
  let lane = index % ${WG};
  let tile = index / ${WG};
  let tilesN = (n + ${TILE - 1}) / ${TILE};
  let row0 = (tile / tilesN) * ${TILE};
  let col0 = (tile % tilesN) * ${TILE};
  let ty = lane / ${SIDE};
  let tx = lane % ${SIDE};

${Array.from({ length: PER }, (_, i) => `  var acc${i} = vec4<f32>(0.0);`).join("\n")} // acc<i>[j]: row ty + ${SIDE}i, column tx + ${SIDE}j
  for (var k0 = 0; k0 < k; k0 = k0 + ${TILE_K}) {
    for (var t = 0; t < ${loadsPerInvocation}; t = t + 1) {
      let e = lane + t * ${WG};
      let xr = row0 + e / ${TILE_K};
      let xk = k0 + e % ${TILE_K};
      var xv = 0.0;
      if (xr < m && xk < k) { xv = x[xr * k + xk]; }
      xTile[e] = xv;
      let wk = k0 + e / ${TILE};
      let wc = col0 + e % ${TILE};
      var wv = 0.0;
      if (wk < k && wc < n) { wv = weight[wk * n + wc]; }
      wTile[e] = wv;
    }
    workgroupBarrier();
    for (var kk = 0; kk < ${TILE_K}; kk = kk + 1) {
      let w = vec4<f32>(${Array.from({ length: PER }, (_, j) => `wTile[kk * ${TILE} + tx + ${SIDE * j}]`).join(", ")});
${Array.from({ length: PER }, (_, i) => `      acc${i} = acc${i} + xTile[(ty + ${SIDE * i}) * ${TILE_K} + kk] * w;`).join("\n")}
    }
    workgroupBarrier();
  }

${Array.from({ length: PER }, (_, i) => epilogueRow(i, hasBias)).join("\n")}
}`,
  };
}

const linearWebGpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, bias } = inputs as unknown as LinearInputs;
  const { activation } = attrs as unknown as LinearAttrs;
  const { rows, inFeatures, outFeatures, outShape } = linearSizes(x, weight);
  const tiles = Math.ceil(rows / TILE) * Math.ceil(outFeatures / TILE);
  const hasBias = bias !== undefined;
  const programInputs: TensorInfo[] = hasBias ? [x, weight, bias] : [x, weight];
  return runProgram(backend, linearProgram(outShape, tiles, activation, hasBias), programInputs, [
    { type: "int32", data: [rows] },
    { type: "int32", data: [inFeatures] },
    { type: "int32", data: [outFeatures] },
  ]);
};

export const linearWebGpuConfig: KernelConfig = { kernelName: Linear, backendName: "webgpu", kernelFunc: linearWebGpu };
export const linearNoBiasWebGpuConfig: KernelConfig = { kernelName: LinearNoBias, backendName: "webgpu", kernelFunc: linearWebGpu };
