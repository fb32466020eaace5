/**
 * Kernels of the `native` backend (a tfjs-backend-wasm instance whose hot kernels run in the addon, on its heap in
 * place):
 *
 *   BatchMatMul, _FusedMatMul        native GEMM, any transposes, batch broadcast (one side of batch 1); bias and
 *                                    activation in the epilogue (prelu and non-row biases: wasm's kernels after)
 *   Conv2D, FusedConv2D,             im2col + native GEMM (NHWC float32; anything else goes to wasm's kernel);
 *   Conv2DBackpropInput,             FusedConv2D's bias [Cout] and activation run in the GEMM epilogue (prelu and
 *   Conv2DBackpropFilter             other bias shapes: wasm's kernel)
 *   Exp                              vectorised polynomial (wasm's is a scalar loop; attention's gradient uses it)
 *   Softmax                          rows of the last axis (another axis: wasm's kernel)
 *   SplitV, Concat                   contiguous runs copied on the heap (4-byte dtypes)
 *   Transpose                        last axis kept, rank ≤ 4: one strided block copy (others: wasm's kernel)
 *   GatherV2                         axis 0 (embedding lookups), indices in range: a heap copy per index
 *   Sum                              over leading axes (bias gradients) as column sums (other axes: wasm's kernel)
 *   Identity                         shares the input's data (wasm's kernel copies it)
 *   Add, Sub, Multiply               float32, equal shapes or one side broadcast over the other's leading axes
 *   ProjLinear(NoBias), ProjAttention, ProjMaskedAttention, ProjQkvAttention, ProjLayerNorm, ProjGroupNorm(Grad)
 *                                    our fused ops (ProjQkvAttention: native only; elsewhere the op composes)
 *   ProjActivationGrad               dy ⊙ act'(x) for linear's gradient (gelu, quickGelu, silu)
 *   ProjAttentionGrad, ProjMaskedAttentionGrad    attention's fused backward (dq, dk, dv; P recomputed)
 * The last three exist only in addons built from newer sources (NATIVE_KERNEL_REQUIRES): with an older build they
 * are not registered and the gradients compose tfjs ops instead.
 *
 * Each kernel makes its inputs resident on the heap first (that may allocate), then allocates its output, then
 * takes the heap's buffer (an allocation may have grown and replaced it) and calls the addon through the checked
 * wrappers of addon.ts. Shapes and dtypes are checked here; offsets and extents there.
 */
import {
  _FusedMatMul,
  backend_util,
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  Exp,
  FusedConv2D,
  Softmax,
  SplitV,
  Sum,
  Identity,
  Add,
  Sub,
  Multiply,
  Concat,
  Transpose,
  GatherV2,
  getKernel,
  util,
} from "@tensorflow/tfjs-core";
import type {
  _FusedMatMulAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  FusedConv2DAttrs,
  SoftmaxAttrs,
  SplitVAttrs,
  ConcatAttrs,
  TransposeAttrs,
  GatherV2Attrs,
  SumAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs-core";
import { Attention, MaskedAttention, maskStrides, type AttentionAttrs } from "../ops/attention.js";
import { GroupNorm, type GroupNormAttrs } from "../ops/group-norm.js";
import { GroupNormGrad } from "../ops/group-norm-grad.js";
import { LayerNorm, type LayerNormAttrs } from "../ops/layer-norm.js";
import { Linear, LinearNoBias, linearSizes, type LinearAttrs } from "../ops/linear.js";
import { ActivationGrad, type ActivationGradAttrs } from "../ops/linear-grad.js";
import { AttentionGrad, MaskedAttentionGrad } from "../ops/attention-grad.js";
import { QkvAttention, type QkvAttentionAttrs } from "../ops/qkv-attention.js";
import { makeResident, type WasmBackend } from "../kernels/wasm/wasm-heap.js";
import { PACKED_MAX_ROWS, packedWeight } from "./packed-weights.js";
import {
  nativeActivationGrad,
  nativeAttention,
  nativeAttentionGrad,
  nativeQkvAttention,
  nativeBinary,
  nativeCopyBlocks,
  nativeDevice,
  nativeColumnSums,
  nativeConv2d,
  nativeExp,
  nativeGemm,
  nativeGroupNorm,
  nativeGroupNormGrad,
  nativeLayerNorm,
  nativeHas,
  nativeSoftmax,
  type NativeActivation,
  type NativeConvGeometry,
} from "./addon.js";

export const NATIVE_BACKEND = "native";

/** The parts of BackendWasm the native kernels use. */
interface NativeHost extends WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  incRef(dataId: object): void;
}

const host = (backend: unknown) => backend as NativeHost;

/** The heap's current buffer: take it after the last allocation. */
const heap = (b: NativeHost) => b.wasm.HEAPU8.buffer as ArrayBuffer;

/** Byte offset of a resident tensor. */
const at = (b: NativeHost, t: TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset;

function assertFloat32(kernel: string, tensors: Record<string, TensorInfo | undefined>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t !== undefined && t.dtype !== "float32") throw new TypeError(`${kernel} on native: ${name} must be float32, got ${t.dtype}`);
  }
}

/** wasm's own config for `kernelName` (saved when the native backend is installed): the fallback. */
const wasmOriginals = new Map<string, KernelConfig>();

export function saveWasmOriginal(kernelName: string): void {
  const config = getKernel(kernelName, "wasm");
  if (config != null) wasmOriginals.set(kernelName, config);
}

function runWasm(kernelName: string, backend: NativeHost, inputs: Record<string, TensorInfo | undefined>, attrs: NamedAttrMap): TensorInfo {
  const config = wasmOriginals.get(kernelName) ?? getKernel(kernelName, "wasm");
  if (config == null) throw new Error(`${kernelName} on native: no wasm kernel to fall back to`);
  const defined = Object.fromEntries(Object.entries(inputs).filter(([, t]) => t !== undefined)) as Record<string, TensorInfo>;
  return config.kernelFunc({ inputs: defined, backend: backend as unknown as KernelBackend, attrs }) as TensorInfo;
}

/** A config whose setup and dispose are wasm's original's (so the fallback finds its wasm functions bound). */
function nativeConfig(kernelName: string, kernelFunc: KernelFunc): KernelConfig {
  return {
    kernelName,
    backendName: NATIVE_BACKEND,
    kernelFunc,
    setupFunc: (backend) => wasmOriginals.get(kernelName)?.setupFunc?.(backend),
    disposeFunc: (backend) => wasmOriginals.get(kernelName)?.disposeFunc?.(backend),
  };
}

// ---- matmul -------------------------------------------------------------------------------------------------

interface MatMulPlan {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  outShape: number[];
}

/** The batched product's sizes, or undefined when the batch dims broadcast in a way other than "equal or 1". */
function planMatMul(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan | undefined {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || rb < 2) throw new RangeError(`BatchMatMul on native: operands must have rank ≥ 2, got [${a.shape}] and [${b.shape}]`);
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kB) {
    throw new RangeError(`BatchMatMul on native: inner sizes ${k} and ${kB} of [${a.shape}] and [${b.shape}] (transposeA ${transposeA}, transposeB ${transposeB}) differ`);
  }
  const outer = backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  const batch = util.sizeFromShape(outer);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return undefined;
  return { m, n, k, batch, strideA: batchA === 1 ? 0 : m * k, strideB: batchB === 1 ? 0 : k * n, outShape: [...outer, m, n] };
}

const TFJS_ACTIVATIONS: Record<string, NativeActivation> = {
  linear: "none",
  relu: "relu",
  relu6: "relu6",
  leakyrelu: "leakyrelu",
  elu: "elu",
  sigmoid: "sigmoid",
};

function matMul(
  backend: NativeHost,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias?: TensorInfo,
  activation: NativeActivation = "none",
  alpha = 0,
): TensorInfo | undefined {
  const plan = planMatMul(a, b, transposeA, transposeB);
  if (plan === undefined) return undefined;
  makeResident(backend, a, b, bias);
  const out = backend.makeOutput(plan.outShape, "float32");
  const { m, n, k, batch, strideA, strideB } = plan;
  const memory = heap(backend);
  const bOffset = at(backend, b);
  nativeGemm(memory, {
    a: at(backend, a),
    b: bOffset,
    packedB: usePacked(m) && (batch === 1 || strideB === 0) ? packedWeight(memory, b, bOffset, k, n, transposeB) : 0,
    c: at(backend, out),
    bias: bias === undefined ? undefined : at(backend, bias),
    m,
    n,
    k,
    transA: transposeA,
    transB: transposeB,
    activation,
    alpha,
    batch,
    strideA,
    strideB,
    strideC: m * n,
  });
  return out;
}

const batchMatMul: KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA = false, transposeB = false } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const native = host(backend);
  if (a.dtype !== "float32" || b.dtype !== "float32") return runWasm(BatchMatMul, native, { a, b }, attrs ?? {});
  return matMul(native, a, b, transposeA, transposeB) ?? runWasm(BatchMatMul, native, { a, b }, attrs ?? {});
};

const fusedMatMul: KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b, bias, preluActivationWeights } = inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as unknown as _FusedMatMulAttrs;
  const native = host(backend);
  const all = { a, b, bias, preluActivationWeights };
  const fallback = () => runWasm(_FusedMatMul, native, all, attrs ?? {});
  if ([a, b, bias, preluActivationWeights].some((t) => t !== undefined && t.dtype !== "float32")) return fallback();
  const plan = planMatMul(a, b, transposeA, transposeB);
  if (plan === undefined) return fallback();
  // A bias over the output columns ([N], [1, N], …) and a pointwise activation fuse into the epilogue.
  const rowBias = bias === undefined || (bias.shape[bias.shape.length - 1] === plan.n && util.sizeFromShape(bias.shape) === plan.n);
  const fused = TFJS_ACTIVATIONS[activation ?? "linear"];
  if (rowBias && fused !== undefined) return matMul(native, a, b, transposeA, transposeB, bias, fused, leakyreluAlpha ?? 0.2)!;
  // Otherwise (a bias that is not one row, or prelu): the product natively, then wasm's own kernels.
  const product = matMul(native, a, b, transposeA, transposeB)!;
  const temporaries = [product];
  try {
    let y = product;
    if (bias !== undefined) temporaries.push((y = runWasm("Add", native, { a: y, b: bias }, {})));
    const act = WASM_ACTIVATION_KERNELS[activation ?? "linear"];
    if (act === undefined) throw new Error(`_FusedMatMul on native: unsupported activation ${activation}`);
    if (act !== null) {
      const alphaInput = activation === "prelu" ? { alpha: preluActivationWeights } : {};
      temporaries.push((y = runWasm(act, native, { x: y, ...alphaInput }, { alpha: leakyreluAlpha ?? 0.2 })));
    }
    temporaries.splice(temporaries.indexOf(y), 1);
    return y;
  } finally {
    for (const t of temporaries) native.disposeData(t.dataId);
  }
};

/** tfjs's fused activations as wasm kernels (null: none). */
const WASM_ACTIVATION_KERNELS: Record<string, string | null> = {
  linear: null,
  relu: "Relu",
  relu6: "Relu6",
  leakyrelu: "LeakyRelu",
  elu: "Elu",
  sigmoid: "Sigmoid",
  prelu: "Prelu",
};

// ---- conv2d -------------------------------------------------------------------------------------------------

function geometry(info: backend_util.Conv2DInfo): NativeConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

const isNhwcFloat = (dataFormat: string | undefined, ...ts: TensorInfo[]) =>
  (dataFormat ?? "NHWC") === "NHWC" && ts.every((t) => t.dtype === "float32" && t.shape.length === 4);

function assertShapeIs(kernel: string, name: string, t: TensorInfo, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new RangeError(`${kernel} on native: ${name} must have shape [${shape.join(", ")}], got [${t.shape.join(", ")}]`);
  }
}

const conv2d: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as Conv2DAttrs;
  const native = host(backend);
  if (!isNhwcFloat(dataFormat, x, filter)) return runWasm(Conv2D, native, { x, filter }, attrs ?? {});
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, false, "channelsLast");
  makeResident(native, x, filter);
  const y = native.makeOutput(info.outShape, "float32");
  nativeConv2d(heap(native), "forward", geometry(info), { x: at(native, x), w: at(native, filter), y: at(native, y) });
  return y;
};

const fusedConv2d: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, filter, bias, preluActivationWeights } = inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha } = attrs as unknown as FusedConv2DAttrs;
  const native = host(backend);
  const fused = TFJS_ACTIVATIONS[activation ?? "linear"];
  const outChannels = filter.shape[3];
  const rowBias = bias === undefined || (bias.dtype === "float32" && util.sizeFromShape(bias.shape) === outChannels && bias.shape[bias.shape.length - 1] === outChannels);
  if (!isNhwcFloat(dataFormat, x, filter) || fused === undefined || !rowBias || preluActivationWeights !== undefined) {
    return runWasm(FusedConv2D, native, { x, filter, bias, preluActivationWeights }, attrs ?? {});
  }
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, false, "channelsLast");
  makeResident(native, x, filter, bias);
  const y = native.makeOutput(info.outShape, "float32");
  nativeConv2d(
    heap(native),
    "forward",
    geometry(info),
    { x: at(native, x), w: at(native, filter), y: at(native, y), bias: bias === undefined ? undefined : at(native, bias) },
    { activation: fused, alpha: leakyreluAlpha ?? 0.2 },
  );
  return y;
};

const conv2dBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
  const native = host(backend);
  if (!isNhwcFloat(dataFormat, dy, filter)) return runWasm(Conv2DBackpropInput, native, { dy, filter }, attrs ?? {});
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, "channelsLast");
  assertShapeIs(Conv2DBackpropInput, "dy", dy, info.outShape);
  makeResident(native, dy, filter);
  const dx = native.makeOutput(inputShape.slice(), "float32");
  nativeConv2d(heap(native), "backpropInput", geometry(info), { dy: at(native, dy), w: at(native, filter), dx: at(native, dx) });
  return dx;
};

const conv2dBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  const native = host(backend);
  if (!isNhwcFloat(dataFormat, x, dy)) return runWasm(Conv2DBackpropFilter, native, { x, dy }, attrs ?? {});
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, "channelsLast");
  assertShapeIs(Conv2DBackpropFilter, "dy", dy, info.outShape);
  makeResident(native, x, dy);
  const dw = native.makeOutput(filterShape.slice(), "float32");
  nativeConv2d(heap(native), "backpropFilter", geometry(info), { x: at(native, x), dy: at(native, dy), dw: at(native, dw) });
  return dw;
};

// ---- our fused ops ------------------------------------------------------------------------------------------

const linear: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, weight, bias } = inputs as { x: TensorInfo; weight: TensorInfo; bias?: TensorInfo };
  const { activation } = attrs as unknown as LinearAttrs;
  assertFloat32(Linear, { x, weight, bias });
  const native = host(backend);
  const { rows, inFeatures, outFeatures, outShape } = linearSizes(x, weight);
  makeResident(native, x, weight, bias);
  const y = native.makeOutput(outShape, "float32");
  const memory = heap(native);
  const b = at(native, weight);
  nativeGemm(memory, {
    a: at(native, x),
    b,
    c: at(native, y),
    bias: bias === undefined ? undefined : at(native, bias),
    m: rows,
    n: outFeatures,
    k: inFeatures,
    activation,
    packedB: usePacked(rows) ? packedWeight(memory, weight, b, inFeatures, outFeatures, false) : 0,
  });
  return y;
};

/** Whether a product of `rows` rows takes B packed once (packed-weights.ts): few rows, the CPU device. */
const usePacked = (rows: number) => rows <= PACKED_MAX_ROWS && nativeDevice() === "cpu";

const attention: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, mask } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo; mask?: TensorInfo };
  const { scale, causal } = attrs as unknown as AttentionAttrs;
  assertFloat32(Attention, { q, k, v, mask });
  const [batch, heads, queries, headSize] = q.shape as [number, number, number, number];
  const keys = k.shape[2]!;
  const strides = mask === undefined ? undefined : maskStrides(mask.shape, [batch, heads, queries, keys]);
  const native = host(backend);
  makeResident(native, q, k, v, mask);
  const out = native.makeOutput(q.shape.slice(), "float32");
  nativeAttention(heap(native), {
    q: at(native, q),
    k: at(native, k),
    v: at(native, v),
    out: at(native, out),
    mask: mask === undefined ? undefined : at(native, mask),
    maskStrides: strides,
    batch,
    heads,
    queries,
    keys,
    headSize,
    scale,
    causal,
  });
  return out;
};

/** qkvAttention: each head read from the packed qkv and written into out in place (ops/qkv-attention.ts). */
const qkvAttention: KernelFunc = ({ inputs, backend, attrs }) => {
  const { qkv } = inputs as { qkv: TensorInfo };
  const { heads, scale, causal } = attrs as unknown as QkvAttentionAttrs;
  assertFloat32(QkvAttention, { qkv });
  if (qkv.shape.length !== 3 || !Number.isInteger(heads) || heads < 1 || qkv.shape[2]! % (3 * heads) !== 0) {
    throw new RangeError(`${QkvAttention} on native: qkv must be [B, T, 3 · heads · Dh] with heads ${heads}, got [${qkv.shape.join(", ")}]`);
  }
  const [batch, tokens, packed] = qkv.shape as [number, number, number];
  if (batch * tokens === 0) throw new RangeError(`${QkvAttention} on native: empty qkv [${qkv.shape.join(", ")}]`);
  const native = host(backend);
  makeResident(native, qkv);
  const out = native.makeOutput([batch, tokens, packed / 3], "float32");
  nativeQkvAttention(heap(native), { qkv: at(native, qkv), out: at(native, out), batch, heads, tokens, headSize: packed / (3 * heads), scale, causal });
  return out;
};

/** [B, H, Tq, Tk, D] of q, k, v, checked (the op checked them once; a direct runKernel may not have). */
function attentionSizes(kernel: string, q: TensorInfo, k: TensorInfo, v: TensorInfo): [number, number, number, number, number] {
  if (q.shape.length !== 4) throw new RangeError(`${kernel} on native: q must be [B, H, Tq, D], got [${q.shape.join(", ")}]`);
  const [batch, heads, queries, headSize] = q.shape as [number, number, number, number];
  const keys = k.shape[2] ?? 0;
  assertShapeIs(kernel, "k", k, [batch, heads, keys, headSize]);
  assertShapeIs(kernel, "v", v, [batch, heads, keys, headSize]);
  if (batch * heads * queries * keys * headSize === 0) throw new RangeError(`${kernel} on native: empty q, k or v ([${q.shape}], [${k.shape}])`);
  return [batch, heads, queries, keys, headSize];
}

const attentionGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, q, k, v, mask } = inputs as { dy: TensorInfo; q: TensorInfo; k: TensorInfo; v: TensorInfo; mask?: TensorInfo };
  const { scale, causal } = attrs as unknown as AttentionAttrs;
  const kernel = mask === undefined ? AttentionGrad : MaskedAttentionGrad;
  assertFloat32(kernel, { dy, q, k, v, mask });
  const [batch, heads, queries, keys, headSize] = attentionSizes(kernel, q, k, v);
  assertShapeIs(kernel, "dy", dy, q.shape);
  const strides = mask === undefined ? undefined : maskStrides(mask.shape, [batch, heads, queries, keys]);
  const native = host(backend);
  makeResident(native, dy, q, k, v, mask);
  const dq = native.makeOutput(q.shape.slice(), "float32");
  const dk = native.makeOutput(k.shape.slice(), "float32");
  const dv = native.makeOutput(v.shape.slice(), "float32");
  nativeAttentionGrad(heap(native), {
    q: at(native, q),
    k: at(native, k),
    v: at(native, v),
    mask: mask === undefined ? undefined : at(native, mask),
    dout: at(native, dy),
    dq: at(native, dq),
    dk: at(native, dk),
    dv: at(native, dv),
    maskStrides: strides,
    batch,
    heads,
    queries,
    keys,
    headSize,
    scale,
    causal,
  });
  return [dq, dk, dv];
};

const layerNorm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { epsilon } = attrs as unknown as LayerNormAttrs;
  assertFloat32(LayerNorm, { x, gamma, beta });
  const channels = x.shape[x.shape.length - 1]!;
  const native = host(backend);
  makeResident(native, x, gamma, beta);
  const out = native.makeOutput(x.shape.slice(), "float32");
  nativeLayerNorm(heap(native), {
    x: at(native, x),
    gamma: at(native, gamma),
    beta: at(native, beta),
    out: at(native, out),
    rows: util.sizeFromShape(x.shape) / channels,
    channels,
    epsilon,
  });
  return out;
};

const groupNorm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { groups, epsilon, activation } = attrs as unknown as GroupNormAttrs;
  assertFloat32(GroupNorm, { x, gamma, beta });
  const samples = x.shape[0]!;
  const channels = x.shape[x.shape.length - 1]!;
  const native = host(backend);
  makeResident(native, x, gamma, beta);
  const out = native.makeOutput(x.shape.slice(), "float32");
  nativeGroupNorm(heap(native), {
    x: at(native, x),
    gamma: at(native, gamma),
    beta: at(native, beta),
    out: at(native, out),
    samples,
    pixels: samples === 0 ? 0 : util.sizeFromShape(x.shape) / (samples * channels),
    channels,
    groups,
    epsilon,
    silu: activation === "silu",
  });
  return out;
};

const exp: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const native = host(backend);
  if (x.dtype !== "float32") return runWasm(Exp, native, { x }, attrs ?? {});
  makeResident(native, x);
  const y = native.makeOutput(x.shape.slice(), "float32");
  nativeExp(heap(native), { x: at(native, x), y: at(native, y), size: util.sizeFromShape(x.shape) });
  return y;
};

const softmax: KernelFunc = ({ inputs, backend, attrs }) => {
  const { logits } = inputs as { logits: TensorInfo };
  const { dim } = attrs as unknown as SoftmaxAttrs;
  const native = host(backend);
  const rank = logits.shape.length;
  const lastAxis = rank > 0 && (dim === -1 || dim === rank - 1);
  if (logits.dtype !== "float32" || !lastAxis || !nativeHas("softmax")) return runWasm(Softmax, native, { logits }, attrs ?? {});
  const n = logits.shape[rank - 1]!;
  const size = util.sizeFromShape(logits.shape);
  makeResident(native, logits);
  const y = native.makeOutput(logits.shape.slice(), "float32");
  if (size > 0) nativeSoftmax(heap(native), { x: at(native, logits), y: at(native, y), rows: size / n, n });
  return y;
};

const groupNormGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x, gamma, beta } = inputs as { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { groups, epsilon, activation } = attrs as unknown as GroupNormAttrs;
  assertFloat32(GroupNormGrad, { dy, x, gamma, beta });
  assertShapeIs(GroupNormGrad, "dy", dy, x.shape);
  const samples = x.shape[0]!;
  const channels = x.shape[x.shape.length - 1]!;
  const native = host(backend);
  makeResident(native, dy, x, gamma, beta);
  const dx = native.makeOutput(x.shape.slice(), "float32");
  const dgamma = native.makeOutput([channels], "float32");
  const dbeta = native.makeOutput([channels], "float32");
  nativeGroupNormGrad(heap(native), {
    x: at(native, x),
    gamma: at(native, gamma),
    beta: at(native, beta),
    dy: at(native, dy),
    dx: at(native, dx),
    dgamma: at(native, dgamma),
    dbeta: at(native, dbeta),
    samples,
    pixels: samples === 0 ? 0 : util.sizeFromShape(x.shape) / (samples * channels),
    channels,
    groups,
    epsilon,
    silu: activation === "silu",
  });
  return [dx, dgamma, dbeta];
};

const activationGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
  const { activation } = attrs as unknown as ActivationGradAttrs;
  assertFloat32(ActivationGrad, { dy, x });
  assertShapeIs(ActivationGrad, "dy", dy, x.shape);
  const native = host(backend);
  makeResident(native, dy, x);
  const dx = native.makeOutput(x.shape.slice(), "float32");
  const size = util.sizeFromShape(x.shape);
  if (size > 0) nativeActivationGrad(heap(native), { x: at(native, x), dy: at(native, dy), dx: at(native, dx), size, activation });
  return dx;
};

// ---- split --------------------------------------------------------------------------------------------------

/** Runs shorter than this are copied element by element (one copyWithin call per run costs ~0.5 µs). */
const COPY_WITHIN_RUN = 256;

/**
 * SplitV as one heap copy per (outer index, output): a split along `axis` of [outer, axis, inner] is, for each outer
 * index, consecutive runs of size·inner elements. wasm's kernel slices element by element (≈ 0.6 ms for attention's
 * q/k/v split of [1, 50, 2304], 5% of a ViT-B/32 forward; 40 ms per U-Net training step in concat's gradients);
 * this is a few µs, resp. ~1 ns per element. float32 and int32 only (other dtypes: wasm's kernel).
 */
const splitV: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const { numOrSizeSplits, axis } = attrs as unknown as SplitVAttrs;
  const native = host(backend);
  const fallback = () => runWasm(SplitV, native, { x }, attrs ?? {});
  const $axis = util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
  const outer = util.sizeFromShape(x.shape.slice(0, $axis));
  const inner = util.sizeFromShape(x.shape.slice($axis + 1));
  const row = x.shape[$axis]! * inner;
  if (x.dtype !== "float32" && x.dtype !== "int32") return fallback();
  makeResident(native, x);
  const outs = sizes.map((size) => native.makeOutput(x.shape.map((d, i) => (i === $axis ? size : d)), x.dtype));
  const words = new Int32Array(heap(native)); // after the last allocation; 4-byte words whatever the dtype
  const source = at(native, x) / 4;
  let offset = 0;
  sizes.forEach((size, i) => {
    const run = size * inner;
    copyRuns(words, outer, run, source + offset, row, at(native, outs[i]!) / 4, run);
    offset += run;
  });
  return outs;
};

/**
 * `count` runs of `run` words from `from` (every `fromStride` words) to `to` (every `toStride` words): in the addon
 * (memcpy per run) when it has copyBlocks, else here.
 */
function copyRuns(words: Int32Array, count: number, run: number, from: number, fromStride: number, to: number, toStride: number): void {
  if (run === 0 || count === 0) return;
  if (nativeHas("copyBlocks")) {
    nativeCopyBlocks(words.buffer as ArrayBuffer, { src: 4 * from, dst: 4 * to, run, counts: [1, 1, count], srcStrides: [0, 0, fromStride], dstStrides: [0, 0, toStride] });
    return;
  }
  if (run >= COPY_WITHIN_RUN) {
    for (let r = 0; r < count; r++, from += fromStride, to += toStride) words.copyWithin(to, from, from + run);
    return;
  }
  for (let r = 0; r < count; r++, from += fromStride, to += toStride) {
    for (let j = 0; j < run; j++) words[to + j] = words[from + j]!;
  }
}

/** Concat of float32 or int32 tensors along any axis: per outer index, one run per input (as SplitV in reverse). */
const concat: KernelFunc = ({ inputs, backend, attrs }) => {
  const tensors = Object.values(inputs as Record<string, TensorInfo>);
  const { axis } = attrs as unknown as ConcatAttrs;
  const native = host(backend);
  const dtype = tensors[0]?.dtype;
  if (tensors.length === 0 || (dtype !== "float32" && dtype !== "int32") || tensors.some((t) => t.dtype !== dtype)) {
    return runWasm(Concat, native, inputs as Record<string, TensorInfo>, attrs ?? {});
  }
  const $axis = util.parseAxisParam(axis, tensors[0]!.shape)[0]!;
  const outShape = backend_util.computeOutShape(tensors.map((t) => t.shape), $axis);
  const outer = util.sizeFromShape(outShape.slice(0, $axis));
  makeResident(native, ...tensors);
  const out = native.makeOutput(outShape, dtype);
  const words = new Int32Array(heap(native)); // after the last allocation
  const row = util.sizeFromShape(outShape.slice($axis));
  let offset = 0;
  for (const t of tensors) {
    const run = util.sizeFromShape(t.shape.slice($axis));
    if (run > 0) copyRuns(words, outer, run, at(native, t) / 4, run, at(native, out) / 4 + offset, row);
    offset += run;
  }
  return out;
};

/**
 * Transpose of float32 or int32 that keeps the last axis in place (attention's head split and merge
 * [B, T, H, Dh] ↔ [B, H, T, Dh], the ViT's patch extraction) and has at most three other axes: one strided block
 * copy of last-axis runs in the addon. Other permutations and dtypes: wasm's kernel.
 */
const transpose: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const { perm } = attrs as unknown as TransposeAttrs;
  const native = host(backend);
  const rank = x.shape.length;
  if ((x.dtype !== "float32" && x.dtype !== "int32") || rank < 2 || rank > 4 || perm[rank - 1] !== rank - 1) {
    return runWasm(Transpose, native, { x }, attrs ?? {});
  }
  const outShape = perm.map((p) => x.shape[p]!);
  const inStrides = util.computeStrides(x.shape); // words; the last axis (stride 1) is the run
  const outStrides = util.computeStrides(outShape);
  const pad = 4 - rank; // outer axes padded to three with one block of stride 0
  const counts = [1, 1, 1].map((one, i) => (i < pad ? one : outShape[i - pad]!)) as [number, number, number];
  const srcStrides = [0, 0, 0].map((zero, i) => (i < pad ? zero : inStrides[perm[i - pad]!]!)) as [number, number, number];
  const dstStrides = [0, 0, 0].map((zero, i) => (i < pad ? zero : outStrides[i - pad]!)) as [number, number, number];
  makeResident(native, x);
  const out = native.makeOutput(outShape, x.dtype);
  if (util.sizeFromShape(outShape) > 0) {
    nativeCopyBlocks(heap(native), { src: at(native, x), dst: at(native, out), run: x.shape[rank - 1]!, counts, srcStrides, dstStrides });
  }
  return out;
};

/**
 * GatherV2 along axis 0 (an embedding lookup: token ids into [vocab, width]) of float32 or int32 with int32 indices
 * all in range: one heap copy per index. Other axes, batch dims, dtypes or an index out of range: wasm's kernel.
 */
const gatherV2: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = attrs as unknown as GatherV2Attrs;
  const native = host(backend);
  const fallback = () => runWasm(GatherV2, native, { x, indices }, attrs ?? {});
  if ((x.dtype !== "float32" && x.dtype !== "int32") || indices.dtype !== "int32" || x.shape.length === 0) return fallback();
  if (util.parseAxisParam(axis, x.shape)[0] !== 0 || batchDims !== 0) return fallback();
  makeResident(native, x, indices);
  const count = util.sizeFromShape(indices.shape);
  const rows = x.shape[0]!;
  const ids = new Int32Array(heap(native), at(native, indices), count).slice(); // before the output's allocation
  for (const id of ids) if (!(id >= 0 && id < rows)) return fallback();
  const row = util.sizeFromShape(x.shape.slice(1));
  const out = native.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const words = new Int32Array(heap(native)); // after the last allocation
  const from = at(native, x) / 4;
  let to = at(native, out) / 4;
  for (const id of ids) {
    words.copyWithin(to, from + id * row, from + (id + 1) * row);
    to += row;
  }
  return out;
};

// ---- sum, identity -------------------------------------------------------------------------------------------

/**
 * Sum over leading axes ([0, k) of the rank) of float32 as column sums of [outer, inner] (bias gradients: wasm's
 * kernel transposes the reduced axes innermost first, a full copy); any other reduction goes to wasm's kernel.
 */
const sum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as SumAttrs;
  const native = host(backend);
  const axes = util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
  if (x.dtype !== "float32" || !leading) return runWasm(Sum, native, { x }, attrs ?? {});
  const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
  const kept = x.shape.slice(axes.length);
  makeResident(native, x);
  const out = native.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, "float32");
  const cols = util.sizeFromShape(kept);
  if (cols > 0) nativeColumnSums(heap(native), { x: at(native, x), out: at(native, out), rows, cols });
  return out;
};

/** The input's data under a new reference (as the cpu backend and wasm's Reshape do), not a copy. */
const identity: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const native = host(backend);
  if (x.dtype === "string") return runWasm(Identity, native, { x }, attrs ?? {});
  native.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

// ---- add, sub, multiply ---------------------------------------------------------------------------------------

/**
 * a ∘ b for float32 when the shapes are equal or one operand's elements repeat over the other's leading axes (a
 * scalar, a bias row [C] against [N, H, W, C], [1, T, C] against [B, T, C]); other broadcasts and dtypes: wasm's
 * kernel. wasm's binary kernels walk a general broadcast per element (≈ 5 ns per element here).
 */
function binary(kernelName: string, op: "add" | "sub" | "mul"): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const native = host(backend);
    const fallback = () => runWasm(kernelName, native, { a, b }, attrs ?? {});
    if (a.dtype !== "float32" || b.dtype !== "float32") return fallback();
    const outShape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = util.sizeFromShape(outShape);
    const [na, nb] = [util.sizeFromShape(a.shape), util.sizeFromShape(b.shape)];
    // small's shape without its leading 1s is big's trailing shape
    const trailing = (small: TensorInfo, big: TensorInfo) => {
      const first = small.shape.findIndex((d) => d !== 1);
      const s = first === -1 ? [] : small.shape.slice(first);
      return s.every((d, i) => d === big.shape[big.shape.length - s.length + i]);
    };
    let big: TensorInfo, small: TensorInfo, smallFirst: boolean;
    if (na === size && (nb === size || trailing(b, a))) [big, small, smallFirst] = [a, b, false];
    else if (nb === size && trailing(a, b)) [big, small, smallFirst] = [b, a, true];
    else return fallback();
    if (util.sizeFromShape(small.shape) === 0 || size === 0) return fallback();
    makeResident(native, a, b);
    const out = native.makeOutput(outShape, "float32");
    nativeBinary(heap(native), { big: at(native, big), small: at(native, small), out: at(native, out), n: size, ns: util.sizeFromShape(small.shape), op, smallFirst });
    return out;
  };
}

/** The kernels the native backend runs in the addon (every other kernel is wasm's, registered for `native`). */
export const NATIVE_KERNEL_CONFIGS: readonly KernelConfig[] = [
  nativeConfig(BatchMatMul, batchMatMul),
  nativeConfig(_FusedMatMul, fusedMatMul),
  nativeConfig(Conv2D, conv2d),
  nativeConfig(FusedConv2D, fusedConv2d),
  nativeConfig(Conv2DBackpropInput, conv2dBackpropInput),
  nativeConfig(Conv2DBackpropFilter, conv2dBackpropFilter),
  nativeConfig(Exp, exp),
  nativeConfig(Softmax, softmax),
  nativeConfig(SplitV, splitV),
  nativeConfig(Concat, concat),
  nativeConfig(Transpose, transpose),
  nativeConfig(GatherV2, gatherV2),
  nativeConfig(Sum, sum),
  nativeConfig(Identity, identity),
  nativeConfig(Add, binary(Add, "add")),
  nativeConfig(Sub, binary(Sub, "sub")),
  nativeConfig(Multiply, binary(Multiply, "mul")),
  nativeConfig(Linear, linear),
  nativeConfig(LinearNoBias, linear),
  nativeConfig(Attention, attention),
  nativeConfig(MaskedAttention, attention),
  nativeConfig(QkvAttention, qkvAttention),
  nativeConfig(LayerNorm, layerNorm),
  nativeConfig(GroupNorm, groupNorm),
  nativeConfig(GroupNormGrad, groupNormGrad),
  nativeConfig(ActivationGrad, activationGrad),
  nativeConfig(AttentionGrad, attentionGrad),
  nativeConfig(MaskedAttentionGrad, attentionGrad),
];

/**
 * Kernels that need an addon call added after the first builds: `installNativeKernels` registers them only when
 * the loaded addon has it. Without it, tfjs kernels get wasm's own config (Sum, Add, Sub, Multiply), and our gradient
 * kernels none (their callers then compose tfjs ops).
 */
export const NATIVE_KERNEL_REQUIRES: Readonly<Record<string, Parameters<typeof nativeHas>[0]>> = {
  [ActivationGrad]: "activationGrad",
  [AttentionGrad]: "attentionGrad",
  [MaskedAttentionGrad]: "attentionGrad",
  [Sum]: "columnSums",
  [Add]: "binary",
  [Sub]: "binary",
  [Multiply]: "binary",
  [Transpose]: "copyBlocks",
  [QkvAttention]: "qkvAttention",
};
