/**
 * attention on tfjs-backend-wasm: four strategies, the kernel choosing by size (`chooseStrategy`: "simd" always now).
 *
 *   simd     per (batch, head), our SIMD GEMM (../wasm-simd/gemm.wat, as `linear` uses) on heap pointers:
 *            S = Q (scale·Kᵀ) into one [B·H, Tq, Tk] buffer, the JavaScript mask/causal pass, one wasm Softmax
 *            (XNNPACK) over all heads, O = P V straight into the output. Two packing buffers reused by every head,
 *            no per-head allocation or kernel call.
 *   gemm     per (batch, head): S = (scale·Q) Kᵀ and O = P V through wasm's own BatchMatMul with batch 1 and no
 *            transposes, the one case it sends to XNNPACK's SIMD GEMM (tfjs 4.22: batched or transposed products
 *            take a naive loop), and P = softmax(S) through wasm's Softmax (XNNPACK) after one JavaScript pass adds
 *            the mask and the causal −∞. Kᵀ is materialised per head. Holds one head's [Tq, Tk] at a time.
 *   batched  the composition's kernels: one batched S = Q Kᵀ (B·H products, wasm's naive loop), the same JavaScript
 *            pass and Softmax, one batched P V. Materialises [B·H, Tq, Tk].
 *   fused    the host loops of ../host/attention.ts on the heap (4 query rows at a time, one row of scores each,
 *            no [Tq, Tk] matrix): scalar JavaScript, never the fastest here; kept for pinning and comparison.
 *
 * Measured (a copy of bench/attention-strategies.ts with "simd" added, whose "auto" is "simd" now; Node 20,
 * tfjs-backend-wasm 4.22 SIMD, one thread, 2-vCPU Zen 5 VM under load average 2–5 from other users, so compare
 * within a row; ms per call, median of 15, best of two rounds):
 *
 *   shape [B, H, Tq, D], Tk                 composition  gemm   batched   simd   → chosen
 *   ViT-B/32 vision [8, 12, 50, 64], 50         52.8      10.2    43.4     3.7   simd   (2.7× gemm)
 *   text causal [8, 8, 77, 64], 77              58.7      10.3    87.4     5.1   simd   (2.0×)
 *   vision, batch 1 [1, 12, 50, 64], 50          9.3       1.26    8.9     0.41  simd   (3.1×)
 *   text causal, batch 1 [1, 8, 77, 64], 77      9.5       1.33    7.1     0.59  simd   (2.3×)
 *   RN50 attention pool [8, 32, 1, 64], 50       2.6      17.4     2.2     1.21  simd   (1.8× batched)
 *   unCLIP decoder [2, 8, 256, 64], 337        303.1      21.1   197.8    16.5   simd   (1.3×)
 *   unCLIP decoder [2, 16, 64, 32], 64          10.7       2.2     9.6     0.85  simd   (2.6×)
 *   [8, 12, Tq, 64], 50: Tq = 2 / 4 / 8 / 16   simd 0.43 / 0.50 / 0.71 / 1.24; best other 1.46 / 3.0 / 12.7 / 18.7
 *
 * An earlier run (16-core x86-64 host, before "simd" existed) measured gemm 4.5–10× faster than the composition
 * and batched best only up to Tq = 4; "simd" now wins at every shape above.
 *
 * XNNPACK caches its packed right-hand operand by tensor id until that tensor is disposed, so every right-hand
 * operand of the "gemm" strategy is a fresh tensor, disposed after its product (reusing one scratch tensor would
 * read stale weights). Our GEMM caches nothing, so "simd" reuses its packing buffers.
 */
import { BatchMatMul, getKernel, Softmax } from "@tensorflow/tfjs-core";
import type { DataId, DataType, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { Attention, MaskedAttention, maskStrides, type AttentionAttrs } from "../../ops/attention.js";
import { attentionHost, type AttentionDims, type HostMask } from "../host/attention.js";
import { attentionDims } from "../host/attention-kernel.js";
import GEMM_WASM from "../wasm-simd/gemm.generated.js";
import { heapOffset, simdModule } from "../wasm-simd/instance.js";
import { packedColumnsSize, packedRowsSize, type GemmSimd } from "./linear.js";

interface WasmBackend {
  dataIdMap: { get(dataId: DataId): unknown };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/**
 * "simd" at every size measured (see the table above), Tq = 1 included; the other strategies stay for pinning.
 * Kept as a function of the sizes so that a future strategy can be chosen by them.
 */
export function chooseStrategy(_dims: AttentionDims): Exclude<AttentionWasmStrategy, "auto"> {
  return "simd";
}

const view = (backend: WasmBackend, info: TensorInfo) => backend.typedArrayFromHeap(info) as Float32Array;

function attentionFused(backend: WasmBackend, ins: TensorInfo[], dims: AttentionDims, strides: HostMask["strides"] | null, attrs: AttentionAttrs): TensorInfo {
  const out = backend.makeOutput(ins[0]!.shape.slice(), "float32");
  const [q, k, v, m] = ins.map((t) => view(backend, t));
  const mask = strides === null ? null : { values: m!, strides };
  attentionHost(q!, k!, v!, mask, view(backend, out), dims, attrs.scale, attrs.causal);
  return out;
}

/**
 * Scales one head's scores S [Tq, Tk] (at `base` in `s`) and adds its mask and causal −∞ in place, before the
 * softmax; marks in `dead` the rows whose scores are all −∞ (only a mask with −∞ entries makes one: causal always
 * keeps key 0).
 */
function prepareScores(s: Float32Array, base: number, dims: AttentionDims, scale: number, causal: boolean, mask: HostMask | null, maskBase: number, dead: Uint8Array): void {
  const { queries, keys } = dims;
  const msQ = mask?.strides[2] ?? 0;
  const msK = mask?.strides[3] ?? 0;
  for (let i = 0, row = base; i < queries; i++, row += keys) {
    const keyEnd = causal ? Math.min(keys, i + 1) : keys;
    if (mask !== null) {
      let rowMax = -Infinity;
      for (let j = 0, mOff = maskBase + i * msQ; j < keyEnd; j++, mOff += msK) {
        const x = (s[row + j] = s[row + j]! * scale + mask.values[mOff]!);
        if (x > rowMax || x !== x) rowMax = x;
      }
      dead[i] = rowMax === -Infinity ? 1 : 0;
    } else if (scale !== 1) {
      for (let j = row; j < row + keyEnd; j++) s[j]! *= scale;
    }
    s.fill(-Infinity, row + keyEnd, row + keys);
  }
}

/** Zeros the rows marked in `dead` of one head's probabilities P [Tq, Tk] at `base` (softmax of all −∞ is NaN). */
function zeroDeadRows(p: Float32Array, base: number, keys: number, dead: Uint8Array): void {
  for (let i = 0; i < dead.length; i++) if (dead[i] === 1) p.fill(0, base + i * keys, base + (i + 1) * keys);
}

/** wasm's own BatchMatMul and Softmax kernels, and the temporaries a strategy allocates (freed by `free`). */
class WasmKernels {
  private readonly temporaries: TensorInfo[] = [];
  private readonly matMulKernel = getKernel(BatchMatMul, "wasm");
  private readonly softmaxKernel = getKernel(Softmax, "wasm");

  constructor(private readonly backend: WasmBackend) {
    if (this.matMulKernel == null || this.softmaxKernel == null) throw new Error("attention: the wasm backend has no BatchMatMul or Softmax kernel");
  }

  alloc(shape: number[]): TensorInfo {
    return this.keep(this.backend.makeOutput(shape, "float32"));
  }

  /** a · b or a · bᵀ (rank 3). */
  matMul(a: TensorInfo, b: TensorInfo, transposeB = false): TensorInfo {
    const attrs = { transposeA: false, transposeB };
    return this.keep(this.matMulKernel!.kernelFunc({ inputs: { a, b }, backend: this.kernelBackend, attrs }) as TensorInfo);
  }

  /** softmax over the last axis of a rank-3 tensor. */
  softmax(logits: TensorInfo): TensorInfo {
    return this.keep(this.softmaxKernel!.kernelFunc({ inputs: { logits }, backend: this.kernelBackend, attrs: { dim: 2 } }) as TensorInfo);
  }

  /** Stops tracking `t` (it is returned) and gives it back. */
  take(t: TensorInfo): TensorInfo {
    this.temporaries.splice(this.temporaries.indexOf(t), 1);
    return t;
  }

  free(): void {
    for (const t of this.temporaries.splice(0)) this.backend.disposeData(t.dataId);
  }

  private get kernelBackend(): KernelBackend {
    return this.backend as unknown as KernelBackend;
  }

  private keep(t: TensorInfo): TensorInfo {
    this.temporaries.push(t);
    return t;
  }
}

const maskBaseOf = (mask: HostMask | null, bh: number, heads: number) =>
  mask === null ? 0 : Math.floor(bh / heads) * mask.strides[0] + (bh % heads) * mask.strides[1];

function attentionGemm(backend: WasmBackend, ins: TensorInfo[], dims: AttentionDims, strides: HostMask["strides"] | null, attrs: AttentionAttrs): TensorInfo {
  const { heads, queries: tq, keys: tk, headSize: d } = dims;
  const { scale, causal } = attrs;
  const kernels = new WasmKernels(backend);
  const dead = new Uint8Array(tq);
  const out = backend.makeOutput(ins[0]!.shape.slice(), "float32");
  try {
    for (let bh = 0; bh < dims.batch * heads; bh++) {
      const qHead = kernels.alloc([1, tq, d]); // q · scale
      const kT = kernels.alloc([1, d, tk]); // kᵀ
      const vHead = kernels.alloc([1, tk, d]);
      // Views are taken after the allocations: each one may grow the heap and detach older views.
      const [q, k, v] = ins.map((t) => view(backend, t)) as [Float32Array, Float32Array, Float32Array];
      const qv = view(backend, qHead);
      for (let i = 0, src = bh * tq * d; i < tq * d; i++, src++) qv[i] = q[src]! * scale;
      view(backend, vHead).set(v.subarray(bh * tk * d, (bh + 1) * tk * d));
      const kTv = view(backend, kT);
      for (let j = 0, src = bh * tk * d; j < tk; j++) for (let c = 0; c < d; c++, src++) kTv[c * tk + j] = k[src]!;

      const scores = kernels.matMul(qHead, kT); // [1, Tq, Tk]
      const mask = ins[3] === undefined ? null : { values: view(backend, ins[3]), strides: strides! };
      if (mask !== null || causal) prepareScores(view(backend, scores), 0, dims, 1, causal, mask, maskBaseOf(mask, bh, heads), dead);
      const p = kernels.softmax(scores); // [1, Tq, Tk]
      if (mask !== null) zeroDeadRows(view(backend, p), 0, tk, dead);
      const o = kernels.matMul(p, vHead); // [1, Tq, D]
      view(backend, out).set(view(backend, o), bh * tq * d);
      kernels.free();
    }
  } finally {
    kernels.free();
  }
  return out;
}

function attentionBatched(backend: WasmBackend, ins: TensorInfo[], dims: AttentionDims, strides: HostMask["strides"] | null, attrs: AttentionAttrs): TensorInfo {
  const { batch, heads, queries: tq, keys: tk, headSize: d } = dims;
  const asRank3 = (t: TensorInfo): TensorInfo => ({ dataId: t.dataId, dtype: t.dtype, shape: [batch * heads, t.shape[2]!, d] });
  const kernels = new WasmKernels(backend);
  const dead = new Uint8Array(batch * heads * tq);
  try {
    const scores = kernels.matMul(asRank3(ins[0]!), asRank3(ins[1]!), true); // [B·H, Tq, Tk]
    const mask = ins[3] === undefined ? null : { values: view(backend, ins[3]), strides: strides! };
    const s = view(backend, scores);
    for (let bh = 0; bh < batch * heads; bh++) {
      const headDead = dead.subarray(bh * tq, (bh + 1) * tq);
      prepareScores(s, bh * tq * tk, dims, attrs.scale, attrs.causal, mask, maskBaseOf(mask, bh, heads), headDead);
    }
    const p = kernels.softmax(scores); // [B·H, Tq, Tk]
    if (mask !== null) {
      const pv = view(backend, p);
      for (let bh = 0; bh < batch * heads; bh++) zeroDeadRows(pv, bh * tq * tk, tk, dead.subarray(bh * tq, (bh + 1) * tq));
    }
    const o = kernels.take(kernels.matMul(p, asRank3(ins[2]!))); // [B·H, Tq, D]
    return { dataId: o.dataId, dtype: o.dtype, shape: ins[0]!.shape.slice() };
  } finally {
    kernels.free();
  }
}

/**
 * Our SIMD GEMM (../wasm-simd/gemm.wat, as `linear` uses) on heap pointers, per (batch, head): S = Q (scale·Kᵀ)
 * into one [B·H, Tq, Tk] buffer (Kᵀ packed from K with the scale folded in), the mask pass, one wasm Softmax over
 * all heads, then O = P V written straight into the output. No per-head allocation or kernel call: six calls into
 * the module per head, two packing scratch buffers reused by every head.
 */
function attentionSimd(backend: WasmBackend, ins: TensorInfo[], dims: AttentionDims, strides: HostMask["strides"] | null, attrs: AttentionAttrs): TensorInfo {
  const { batch, heads, queries: tq, keys: tk, headSize: d } = dims;
  const kb = backend as unknown as KernelBackend;
  for (const t of ins) backend.dataIdMap.get(t.dataId); // resident before the allocations below
  const kernels = new WasmKernels(backend);
  const gemm = simdModule<GemmSimd>(kb, "gemm", GEMM_WASM);
  const dead = new Uint8Array(batch * heads * tq);
  try {
    const out = kernels.alloc(ins[0]!.shape.slice()); // [B, H, Tq, D]
    const scores = kernels.alloc([batch * heads, tq, tk]);
    const packedA = heapOffset(kb, kernels.alloc([Math.max(packedRowsSize(tq, d), packedRowsSize(tq, tk))]));
    const packedB = heapOffset(kb, kernels.alloc([Math.max(packedColumnsSize(d, tk), packedColumnsSize(tk, d))]));
    const [q, k, v] = ins.map((t) => heapOffset(kb, t)) as [number, number, number];
    const [s, o] = [heapOffset(kb, scores), heapOffset(kb, out)];
    for (let bh = 0; bh < batch * heads; bh++) {
      gemm.packRows(q + 4 * bh * tq * d, tq, d, packedA); // Q [Tq, D]
      gemm.packTransposed(k + 4 * bh * tk * d, d, tk, packedB, attrs.scale); // scale · Kᵀ [D, Tk]
      gemm.gemm(packedA, packedB, s + 4 * bh * tq * tk, tq, d, tk, 0, 0); // [Tq, Tk]
    }
    const mask = ins[3] === undefined ? null : { values: view(backend, ins[3]), strides: strides! };
    if (mask !== null || attrs.causal) {
      const sv = view(backend, scores);
      for (let bh = 0; bh < batch * heads; bh++) {
        const headDead = dead.subarray(bh * tq, (bh + 1) * tq);
        prepareScores(sv, bh * tq * tk, dims, 1, attrs.causal, mask, maskBaseOf(mask, bh, heads), headDead);
      }
    }
    const p = kernels.softmax(scores); // [B·H, Tq, Tk]
    if (mask !== null) {
      const pv = view(backend, p);
      for (let bh = 0; bh < batch * heads; bh++) zeroDeadRows(pv, bh * tq * tk, tk, dead.subarray(bh * tq, (bh + 1) * tq));
    }
    const pp = heapOffset(kb, p);
    for (let bh = 0; bh < batch * heads; bh++) {
      gemm.packRows(pp + 4 * bh * tq * tk, tq, tk, packedA); // P [Tq, Tk]
      gemm.pack(v + 4 * bh * tk * d, tk, d, packedB); // V [Tk, D]
      gemm.gemm(packedA, packedB, o + 4 * bh * tq * d, tq, tk, d, 0, 0); // [Tq, D]
    }
    return kernels.take(out);
  } finally {
    kernels.free();
  }
}

export type AttentionWasmStrategy = "simd" | "fused" | "gemm" | "batched" | "auto";

/** The kernel function; `strategy` other than "auto" pins one strategy (tests and the benchmark use that). */
export function attentionWasmKernel(strategy: AttentionWasmStrategy = "auto"): KernelFunc {
  const strategies = { simd: attentionSimd, fused: attentionFused, gemm: attentionGemm, batched: attentionBatched };
  return ({ inputs, backend, attrs }) => {
    const { q, k, v, mask } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo; mask?: TensorInfo };
    const dims = attentionDims(q, k);
    const { scale, causal } = attrs as unknown as AttentionAttrs;
    const ins = mask === undefined ? [q, k, v] : [q, k, v, mask];
    const strides = mask === undefined ? null : maskStrides(mask.shape, [dims.batch, dims.heads, dims.queries, dims.keys]);
    const run = strategies[strategy === "auto" ? chooseStrategy(dims) : strategy];
    return run(backend as unknown as WasmBackend, ins, dims, strides, { scale, causal });
  };
}

export const attentionWasmConfig: KernelConfig = { kernelName: Attention, backendName: "wasm", kernelFunc: attentionWasmKernel() };
export const maskedAttentionWasmConfig: KernelConfig = { kernelName: MaskedAttention, backendName: "wasm", kernelFunc: attentionWasmKernel() };
