/**
 * attention on tfjs-backend-wasm: three strategies, the kernel choosing by size (`chooseStrategy`).
 *
 *   gemm     per (batch, head): S = (scale·Q) Kᵀ and O = P V through wasm's own BatchMatMul with batch 1 and no
 *            transposes, the one case it sends to XNNPACK's SIMD GEMM (tfjs 4.22: batched or transposed products
 *            take a naive loop), and P = softmax(S) through wasm's Softmax (XNNPACK) after one JavaScript pass adds
 *            the mask and the causal −∞. Kᵀ is materialised per head. Holds one head's [Tq, Tk] at a time.
 *   batched  the composition's kernels: one batched S = Q Kᵀ (B·H products, wasm's naive loop), the same JavaScript
 *            pass and Softmax, one batched P V. Materialises [B·H, Tq, Tk]: for the small Tq it is chosen for.
 *   fused    the host loops of ../host/attention.ts on the heap (4 query rows at a time, one row of scores each,
 *            no [Tq, Tk] matrix): scalar JavaScript, never the fastest here; kept for pinning and comparison.
 *
 * Measured (src/kernels/host/attention-bench.ts; Node 20, tfjs-backend-wasm 4.22 SIMD, one thread, 16-core x86-64
 * host of an H100 machine; ms per call, median of 15, best of two rounds):
 *
 *   shape [B, H, Tq, D], Tk                 composition  fused   gemm   batched  → chosen
 *   ViT-B/32 vision [8, 12, 50, 64], 50          49.0     50.0    10.8    65.7   gemm     (4.5×)
 *   text causal [8, 8, 77, 64], 77              115.9     64.8    20.1   108.6   gemm     (5.8×)
 *   vision, batch 1 [1, 12, 50, 64], 50           9.2      9.7     2.0     8.7   gemm     (4.6×)
 *   text causal, batch 1 [1, 8, 77, 64], 77       8.9      8.0     1.4     8.0   gemm     (6.5×)
 *   RN50 attention pool [8, 32, 1, 64], 50        2.6      4.0    12.7     2.4   batched  (1.06×)
 *   unCLIP decoder [2, 8, 256, 64], 337         262.0    517.4    33.3   247.3   gemm     (7.9–10×)
 *   unCLIP decoder [2, 16, 64, 32], 64           16.8     22.5     2.5    12.4   gemm     (6.8×)
 *   [8, 12, Tq, 64], 50: Tq = 2 / 4 / 8 / 16   2.1 / 3.6 / 7.3 / 14.9 (composition); gemm 5.8 / 5.4 / 5.8 / 6.5;
 *                                              batched 1.8 / 3.4 / 6.7 / 13.2  → batched up to Tq = 4, gemm from 8
 *
 * XNNPACK caches its packed right-hand operand by tensor id until that tensor is disposed, so every right-hand
 * operand here is a fresh tensor, disposed after its product (reusing one scratch tensor would read stale weights).
 */
import { BatchMatMul, getKernel, Softmax } from "@tensorflow/tfjs-core";
import type { DataId, DataType, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { Attention, MaskedAttention, maskStrides, type AttentionAttrs } from "../../ops/attention.js";
import { attentionHost, type AttentionDims, type HostMask } from "../host/attention.js";
import { attentionDims } from "../host/attention-kernel.js";

interface WasmBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/**
 * Below this many multiply-adds per head in Q Kᵀ (Tq · Tk · D), the per-head GEMM calls cost more than they save
 * (five heap buffers, three kernel calls and XNNPACK packing Kᵀ and V: ~55 µs per head); measured crossover between
 * Tq = 4 and 8 at Tk = 50, D = 64, i.e. between 12 800 and 25 600.
 */
export const GEMM_MIN_HEAD_MACS = 16_384;

export function chooseStrategy(dims: AttentionDims): Exclude<AttentionWasmStrategy, "auto"> {
  return dims.queries * dims.keys * dims.headSize >= GEMM_MIN_HEAD_MACS && dims.queries > 1 ? "gemm" : "batched";
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

export type AttentionWasmStrategy = "fused" | "gemm" | "batched" | "auto";

/** The kernel function; `strategy` other than "auto" pins one strategy (tests and the benchmark use that). */
export function attentionWasmKernel(strategy: AttentionWasmStrategy = "auto"): KernelFunc {
  const strategies = { fused: attentionFused, gemm: attentionGemm, batched: attentionBatched };
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
