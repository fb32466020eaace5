/**
 * Matrix multiplies on tfjs-backend-wasm at the plain-GEMM rate. Its `BatchMatMul`/`_FusedMatMul` (tfjs 4.22) take
 * XNNPACK's fast GEMM only when neither operand is transposed and both have batch 1; everything else runs a naive
 * blocked triple loop ~10–40× slower. These wrappers reduce the other cases to that fast one and then call the
 * ORIGINAL kernel (saved by gap-kernels.ts):
 *
 *   1. transposes: materialise them with wasm's `Transpose` kernel (rank 3, [batch, r, c] → [batch, c, r]), either
 *      of the transposed operands, C = op(A)·op(B), or of the others and the result, C = (op(B)ᵀ·op(A)ᵀ)ᵀ, whichever
 *      moves fewer elements (for A·Bᵀ with a vector A, the second moves almost nothing);
 *   2. a batched A times an unbatched B: fold the batch into the rows, [batch·M, K] × [K, N];
 *   3. a batched B (attention's QKᵀ and PV): one GEMM call per matrix, when the matrices are big enough;
 *   4. small matmuls where moving the data would cost more than the naive loop saves: left as they are.
 */
import { broadcast_util, Transpose, util } from "@tensorflow/tfjs-core";
import type { KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { f32, Intermediates, makeResident, runWasmKernel, withShape, type WasmBackend } from "./wasm-heap.js";

/**
 * Below this many flops per element moved by transposes, the original (naive, transposed) loop is kept. The naive
 * loop runs ~1–2 GFLOP/s and wasm's Transpose ~0.2 G elements/s here, so moving pays off from ~10 flops/element.
 */
export const MIN_FLOPS_PER_MOVED_ELEMENT = 16;

export interface MatMulShape {
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  outShape: number[];
}

export function matMulShape(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatMulShape {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [a0, a1] = [a.shape[ra - 2]!, a.shape[ra - 1]!];
  const [b0, b1] = [b.shape[rb - 2]!, b.shape[rb - 1]!];
  const m = transposeA ? a1 : a0;
  const k = transposeA ? a0 : a1;
  const n = transposeB ? b0 : b1;
  const kB = transposeB ? b1 : b0;
  if (k !== kB) {
    throw new RangeError(
      `matMul on wasm: inner dimensions ${k} and ${kB} of [${a.shape.join(", ")}] and [${b.shape.join(", ")}] ` +
        `(transposeA=${transposeA}, transposeB=${transposeB}) must match`,
    );
  }
  const outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return {
    batchA: util.sizeFromShape(a.shape.slice(0, -2)),
    batchB: util.sizeFromShape(b.shape.slice(0, -2)),
    m,
    k,
    n,
    outShape: [...outer, m, n],
  };
}

/** [..., r, c] → a new [..., c, r] buffer (tracked), via wasm's Transpose kernel on the rank-3 view [batch, r, c]. */
function swapLastAxes(backend: WasmBackend, scratch: Intermediates, t: TensorInfo): TensorInfo {
  const outer = t.shape.slice(0, -2);
  const [r, c] = t.shape.slice(-2) as [number, number];
  const x = withShape(t, [util.sizeFromShape(outer), r, c]);
  const swapped = scratch.track(runWasmKernel(Transpose, backend, { x }, { perm: [0, 2, 1] }));
  return withShape(swapped, [...outer, c, r]);
}

export type MatMulPlan = "original" | "transposeOperands" | "transposeResult";

/** How a transposed matmul runs: as it is, or with the operands' or with the result's transposes materialised. */
export function planTransposes(s: MatMulShape, transposeA: boolean, transposeB: boolean, allowResultTranspose: boolean): MatMulPlan {
  const sizeA = s.batchA * s.m * s.k;
  const sizeB = s.batchB * s.k * s.n;
  const sizeC = Math.max(s.batchA, s.batchB) * s.m * s.n;
  const flops = 2 * Math.max(s.batchA, s.batchB) * s.m * s.n * s.k;
  const operands = (transposeA ? sizeA : 0) + (transposeB ? sizeB : 0);
  const result = allowResultTranspose ? (transposeA ? 0 : sizeA) + (transposeB ? 0 : sizeB) + sizeC : Infinity;
  const moved = Math.min(operands, result);
  if (moved === 0 || flops < MIN_FLOPS_PER_MOVED_ELEMENT * moved) return "original";
  return operands <= result ? "transposeOperands" : "transposeResult";
}

/**
 * Below this many flops per matrix of a batch, one GEMM call per matrix costs more than wasm's naive batched loop
 * (~1 GFLOP/s) saves: each call costs ~0.1 ms here (copies, allocations, wasm's call marshalling, XNNPACK set-up).
 */
export const MIN_FLOPS_PER_SLICE = 1 << 18;

/**
 * Multiplies a [..., M, K] by b [..., K, N] (no transposes) with `original` so that XNNPACK's GEMM runs: a batched
 * `a` times an unbatched `b` is folded into rows; a batched `b` is multiplied one matrix at a time when the matrices
 * are big enough (and there is no bias or PReLU to slice along). Returns an untracked result of shape outShape.
 */
function plainMatMul(
  original: KernelConfig,
  backend: WasmBackend,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap,
  a: TensorInfo,
  b: TensorInfo,
  s: MatMulShape,
  foldable: boolean,
): TensorInfo {
  const plainAttrs = { ...attrs, transposeA: false, transposeB: false };
  const sliceable = inputs.bias == null && inputs.preluActivationWeights == null && (s.batchA === 1 || s.batchA === s.batchB);
  if (s.batchB > 1 && sliceable && 2 * s.m * s.n * s.k >= MIN_FLOPS_PER_SLICE) {
    return withShape(matMulPerSlice(original, backend, plainAttrs, a, b, s), s.outShape);
  }
  const fold = foldable && s.batchB === 1 && s.batchA > 1;
  const a3 = fold ? withShape(a, [1, s.batchA * s.m, s.k]) : a;
  const b3 = fold ? withShape(b, [1, s.k, s.n]) : b;
  const out = original.kernelFunc({ inputs: { ...inputs, a: a3, b: b3 }, backend, attrs: plainAttrs }) as TensorInfo;
  return withShape(out, s.outShape);
}

/**
 * C[i] = A[i] × B[i] (or A × B[i] for an unbatched A), one GEMM call per i. XNNPACK caches the packed right-hand
 * matrix under its tensor id, so every B[i] is copied into a fresh buffer; A[i] reuses one.
 */
function matMulPerSlice(original: KernelConfig, backend: WasmBackend, attrs: NamedAttrMap, a: TensorInfo, b: TensorInfo, s: MatMulShape): TensorInfo {
  const { m, k, n } = s;
  const scratch = new Intermediates(backend);
  try {
    const out = scratch.alloc([s.batchB, m, n]);
    const aSlice = s.batchA === 1 ? withShape(a, [1, m, k]) : scratch.alloc([1, m, k]);
    for (let i = 0; i < s.batchB; i++) {
      const bSlice = scratch.alloc([1, k, n]);
      if (s.batchA > 1) f32(backend, aSlice).set(f32(backend, a).subarray(i * m * k, (i + 1) * m * k));
      f32(backend, bSlice).set(f32(backend, b).subarray(i * k * n, (i + 1) * k * n));
      const c = scratch.track(original.kernelFunc({ inputs: { a: aSlice, b: bSlice }, backend, attrs }) as TensorInfo);
      f32(backend, out).set(f32(backend, c), i * m * n);
      scratch.release(c);
      scratch.release(bSlice);
    }
    return scratch.keep(out);
  } finally {
    scratch.dispose();
  }
}

/**
 * The wrapper's body for `BatchMatMul` (`fused` false) and `_FusedMatMul` (`fused` true: its bias and activation
 * stay attached to C, so the result is never transposed, and a PReLU's weights keep the batch unfolded).
 */
export function matMulWithoutTransposes(
  original: KernelConfig,
  backend: WasmBackend,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap,
  fused: boolean,
): TensorInfo {
  const a = inputs.a!;
  const b = inputs.b!;
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
    return original.kernelFunc({ inputs, backend, attrs }) as TensorInfo; // its own checks and messages
  }
  const s = matMulShape(a, b, transposeA, transposeB);
  makeResident(backend, a, b, inputs.bias, inputs.preluActivationWeights);
  const foldable = !fused || inputs.preluActivationWeights == null;
  const todo = transposeA || transposeB ? planTransposes(s, transposeA, transposeB, !fused) : "transposeOperands";
  if (todo === "original") return original.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
  const scratch = new Intermediates(backend);
  try {
    if (todo === "transposeOperands") {
      const a2 = transposeA ? swapLastAxes(backend, scratch, a) : a; // [batchA, M, K]
      const b2 = transposeB ? swapLastAxes(backend, scratch, b) : b; // [batchB, K, N]
      return plainMatMul(original, backend, inputs, attrs, a2, b2, s, foldable);
    }
    // Cᵀ [.., N, M] = op(B)ᵀ [.., N, K] × op(A)ᵀ [.., K, M]; then C = transpose(Cᵀ).
    const left = transposeB ? b : swapLastAxes(backend, scratch, b);
    const right = transposeA ? a : swapLastAxes(backend, scratch, a);
    const st: MatMulShape = { batchA: s.batchB, batchB: s.batchA, m: s.n, k: s.k, n: s.m, outShape: [...s.outShape.slice(0, -2), s.n, s.m] };
    const cT = scratch.track(plainMatMul(original, backend, { a: left, b: right }, attrs, left, right, st, foldable));
    const c = swapLastAxes(backend, scratch, cT);
    return withShape(scratch.keep(c), s.outShape);
  } finally {
    scratch.dispose();
  }
}

/** Whether `matMulWithoutTransposes` ends in XNNPACK's GEMM (for inputs with a bias: never sliced). */
function endsInGemm(s: MatMulShape, transposeA: boolean, transposeB: boolean, foldable: boolean): boolean {
  const todo = transposeA || transposeB ? planTransposes(s, transposeA, transposeB, false) : "transposeOperands";
  return todo !== "original" && s.batchB === 1 && (s.batchA === 1 || foldable);
}

/** wasm kernels applying each fused activation after the fact. */
function activate(backend: WasmBackend, x: TensorInfo, activation: string, inputs: Record<string, TensorInfo>, alpha: number): TensorInfo {
  switch (activation) {
    case "relu":
      return runWasmKernel("Relu", backend, { x });
    case "relu6":
      return runWasmKernel("Relu6", backend, { x });
    case "sigmoid":
      return runWasmKernel("Sigmoid", backend, { x });
    case "elu":
      return runWasmKernel("Elu", backend, { x });
    case "leakyrelu":
      return runWasmKernel("LeakyRelu", backend, { x }, { alpha });
    case "prelu":
      return runWasmKernel("Prelu", backend, { x, alpha: inputs.preluActivationWeights! });
    default:
      throw new Error(`_FusedMatMul on wasm: activation ${activation} is not supported`);
  }
}

/**
 * `_FusedMatMul`: as `BatchMatMul`, except that wasm's naive loop adds a bias wrongly (it indexes the bias by
 * min(i·N + j, N − 1), so rows after the first get bias[N − 1]; tfjs 4.22). Where the product cannot end in the
 * GEMM, the bias and activation are applied afterwards with wasm's Add and activation kernels.
 */
export function fusedMatMul(original: KernelConfig, backend: WasmBackend, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo {
  const { a, b, bias } = inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo };
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  if (bias == null || a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
    return matMulWithoutTransposes(original, backend, inputs, attrs, true);
  }
  const foldable = inputs.preluActivationWeights == null;
  if (endsInGemm(matMulShape(a, b, transposeA, transposeB), transposeA, transposeB, foldable)) {
    return matMulWithoutTransposes(original, backend, inputs, attrs, true);
  }
  const scratch = new Intermediates(backend);
  try {
    const product = scratch.track(matMulWithoutTransposes(original, backend, { a, b }, { transposeA, transposeB, activation: "linear" }, true));
    let y = scratch.track(runWasmKernel("Add", backend, { a: product, b: bias }));
    const activation = String(attrs.activation ?? "linear");
    if (activation !== "linear") y = scratch.track(activate(backend, y, activation, inputs, Number(attrs.leakyreluAlpha ?? 0.2)));
    return scratch.keep(y);
  } finally {
    scratch.dispose();
  }
}
