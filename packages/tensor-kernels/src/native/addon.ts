/**
 * The native addon (native/src, built by node-gyp at install) and the checked TypeScript door to it. Every native
 * kernel reads and writes float32 data at byte offsets in ONE ArrayBuffer — the wasm backend's heap in the `native`
 * backend, any buffer elsewhere — and this file checks every argument (integers, sizes, offsets and extents within
 * the buffer, activation codes) before the call, so no input reaches C++ that could make it read or write out of
 * bounds. The raw addon is not exported.
 *
 * Loading never throws: `loadNativeAddon()` gives the addon or undefined, and `nativeUnavailableReason()` says why
 * (not built, load error, not Node).
 *
 * The CUDA build (native/build-cuda/proj_native_cuda.node, compiled by nvcc at install when the toolkit is there)
 * is a second addon with the same calls for GEMM, layer norm, group norm, softmax and attention. It is loaded only
 * when asked about (`cudaCompiled`, `cudaAvailable`, `setNativeDevice`); after `setNativeDevice("cuda")` those
 * kernels run on the GPU, each call copying its spans host → device → host. Everything else stays on the CPU.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Activation codes of the native epilogues (native/src/activation.h). */
export const ACTIVATION_CODES = {
  none: 0,
  relu: 1,
  relu6: 2,
  leakyrelu: 3,
  elu: 4,
  sigmoid: 5,
  gelu: 6,
  quickGelu: 7,
  silu: 8,
} as const;
export type NativeActivation = keyof typeof ACTIVATION_CODES;

export type NativeIsa = "scalar" | "avx2" | "avx512";

interface RawAddon {
  gemm(...args: number[] | [ArrayBuffer, ...number[]]): void;
  conv2d(...args: number[] | [ArrayBuffer, ...number[]]): void;
  layerNorm(...args: number[] | [ArrayBuffer, ...number[]]): void;
  groupNorm(...args: number[] | [ArrayBuffer, ...number[]]): void;
  groupNormGrad(...args: number[] | [ArrayBuffer, ...number[]]): void;
  exp(...args: number[] | [ArrayBuffer, ...number[]]): void;
  columnSums(...args: number[] | [ArrayBuffer, ...number[]]): void;
  binary(...args: number[] | [ArrayBuffer, ...number[]]): void;
  copyBlocks(...args: number[] | [ArrayBuffer, ...number[]]): void;
  packB(memory: ArrayBuffer, b: number, k: number, n: number, ldb: number, transB: number): number;
  releasePackedB(id: number): void;
  packedBFloats(): number;
  softmax(...args: number[] | [ArrayBuffer, ...number[]]): void;
  activationGrad(...args: number[] | [ArrayBuffer, ...number[]]): void;
  adamw(...args: number[] | [ArrayBuffer, ...number[]]): void;
  attention(...args: number[] | [ArrayBuffer, ...number[]]): void;
  attentionGrad(...args: number[] | [ArrayBuffer, ...number[]]): void;
  qkvAttention(...args: number[] | [ArrayBuffer, ...number[]]): void;
  setThreads(threads: number): number;
  threads(): number;
  isa(): NativeIsa;
  bestIsa(): NativeIsa;
  setIsa(isa: string): boolean;
  fmaPeak(seconds: number): number;
}

/** What the CUDA addon reports about its build and the machine's GPUs. */
export interface CudaStatus {
  /** CUDART_VERSION it was compiled against (e.g. 13000 for 13.0). */
  runtimeVersion: number;
  /** The GPU code it holds: SASS per architecture and PTX for newer ones, e.g. "sm_75,…,sm_90,compute_90". */
  targets: string;
  /** CUDA devices visible (0 when no driver or GPU). */
  devices: number;
  /** Why there is no device, as CUDA says it (no driver, no GPU). */
  error?: string;
  driverVersion?: number;
  /** Device 0, when there is one. */
  name?: string;
  computeCapability?: number;
  memoryBytes?: number;
}

type KernelCall = (...args: [ArrayBuffer, ...number[]]) => void;

interface RawCudaAddon {
  gemm: KernelCall;
  layerNorm: KernelCall;
  groupNorm: KernelCall;
  softmax: KernelCall;
  attention: KernelCall;
  status(): CudaStatus;
}

/** Where a kernel runs: the CPU addon, or the GPU through the CUDA addon. */
export type NativeDevice = "cpu" | "cuda";

/** The kernels the CUDA addon has; the others run on the CPU whatever the device. */
export const CUDA_KERNELS = ["gemm", "layerNorm", "groupNorm", "softmax", "attention"] as const;
type CudaKernel = (typeof CUDA_KERNELS)[number];

const ADDON_FILE = "proj_native.node";
/** Where the build lands relative to this module: src/native/ (tests, tsx) or dist/ (the published entry). */
const CANDIDATES = ["../../native/build/Release/", "../native/build/Release/"];

let addon: RawAddon | undefined;
let reason: string | undefined;
let loaded = false;

function load(): void {
  loaded = true;
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") {
    reason = "not running in Node";
    return;
  }
  const override = process.env.PROJ_NATIVE_ADDON;
  const paths = override ? [override] : CANDIDATES.map((dir) => fileURLToPath(new URL(dir + ADDON_FILE, import.meta.url)));
  const path = paths.find((p) => existsSync(p));
  if (path === undefined) {
    reason = `the native addon was not built (no ${paths.join(" or ")}; run \`npm rebuild @proj/tensor-kernels\` with g++ and make installed)`;
    return;
  }
  try {
    addon = createRequire(import.meta.url)(path) as RawAddon;
  } catch (error) {
    reason = `the native addon at ${path} failed to load: ${(error as Error).message.split("\n")[0]}`;
  }
}

/** The addon, or undefined when it is not available (see `nativeUnavailableReason`). */
export function loadNativeAddon(): RawAddon | undefined {
  if (!loaded) load();
  return addon;
}

/** Why the addon is not available, or undefined when it is. */
export function nativeUnavailableReason(): string | undefined {
  if (!loaded) load();
  return reason;
}

/**
 * Whether the loaded CPU addon has `call` (an addon built from older sources, e.g. a checkout pulled without
 * `npm run build:native`, lacks the newer calls; their kernels then fall back to wasm).
 */
export function nativeHas(call: keyof RawAddon): boolean {
  return typeof loadNativeAddon()?.[call] === "function";
}

function requireAddon(): RawAddon {
  const a = loadNativeAddon();
  if (a === undefined) throw new Error(`@proj/tensor-kernels/native: ${reason}`);
  return a;
}

/** The addon, checked to have `call` (see nativeHas). */
function requireCall(call: keyof RawAddon): RawAddon {
  const a = requireAddon();
  if (typeof a[call] !== "function") throw new Error(`@proj/tensor-kernels/native: the built addon has no ${call} (built from older sources: run \`npm run build:native -w @proj/tensor-kernels\`)`);
  return a;
}

// ---- the CUDA addon -----------------------------------------------------------------------------------------

const CUDA_ADDON_FILE = "proj_native_cuda.node";
const CUDA_CANDIDATES = ["../../native/build-cuda/", "../native/build-cuda/"];

let cudaAddon: RawCudaAddon | undefined;
let cudaStatusCache: CudaStatus | undefined;
let cudaReason: string | undefined;
let cudaLoaded = false;
let device: NativeDevice = "cpu";

function loadCuda(): void {
  cudaLoaded = true;
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") {
    cudaReason = "not running in Node";
    return;
  }
  const override = process.env.PROJ_NATIVE_CUDA_ADDON;
  const paths = override ? [override] : CUDA_CANDIDATES.map((dir) => fileURLToPath(new URL(dir + CUDA_ADDON_FILE, import.meta.url)));
  const path = paths.find((p) => existsSync(p));
  if (path === undefined) {
    cudaReason = "the CUDA addon was not built (nvcc was not found at install, or its build failed: see native/build-cuda.log)";
    return;
  }
  try {
    cudaAddon = createRequire(import.meta.url)(path) as RawCudaAddon;
    cudaStatusCache = cudaAddon.status();
  } catch (error) {
    cudaAddon = undefined;
    cudaReason = `the CUDA addon at ${path} failed to load: ${(error as Error).message.split("\n")[0]}`;
    return;
  }
  if (cudaStatusCache.devices === 0) cudaReason = `no CUDA device (${cudaStatusCache.error ?? "the driver reports none"})`;
}

/** Whether the CUDA addon was built at install and loads (it loads without a GPU or driver). */
export function cudaCompiled(): boolean {
  if (!cudaLoaded) loadCuda();
  return cudaAddon !== undefined;
}

/** The CUDA addon's build and device report, or undefined when it was not built. */
export function cudaStatus(): CudaStatus | undefined {
  if (!cudaLoaded) loadCuda();
  return cudaStatusCache === undefined ? undefined : { ...cudaStatusCache };
}

/** Whether kernels can run on a GPU: the CUDA addon loaded and sees a device. */
export function cudaAvailable(): boolean {
  if (!cudaLoaded) loadCuda();
  return cudaAddon !== undefined && (cudaStatusCache?.devices ?? 0) > 0;
}

/** Why the GPU cannot be used (not built, no driver, no device), or undefined when it can. */
export function cudaUnavailableReason(): string | undefined {
  if (!cudaLoaded) loadCuda();
  return cudaReason;
}

/**
 * Sends the CUDA_KERNELS to the GPU ("cuda") or back to the CPU addon ("cpu", the default); throws, changing
 * nothing, when "cuda" is asked for and `cudaAvailable()` is false. Returns the device in effect.
 */
export function setNativeDevice(next: NativeDevice): NativeDevice {
  if (next !== "cpu" && next !== "cuda") throw new RangeError(`setNativeDevice: unknown device ${JSON.stringify(next)} (cpu or cuda)`);
  if (next === "cuda" && !cudaAvailable()) throw new Error(`setNativeDevice: cuda is not available: ${cudaUnavailableReason()}`);
  device = next;
  return device;
}

export function nativeDevice(): NativeDevice {
  return device;
}

/** The addon that runs `kernel` now: CUDA's when the device is "cuda" and it has the kernel, else the CPU's. */
function kernelAddon(kernel: CudaKernel): Pick<RawCudaAddon, CudaKernel> {
  if (device === "cuda" && cudaAddon !== undefined && CUDA_KERNELS.includes(kernel)) return cudaAddon;
  return requireCall(kernel) as unknown as Pick<RawCudaAddon, CudaKernel>;
}

// ---- argument checks ----------------------------------------------------------------------------------------

const MAX_DIM = 2 ** 31 - 1;

function assertCount(kernel: string, name: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > MAX_DIM) {
    throw new RangeError(`${kernel}: ${name} must be an integer in [${min}, 2³¹), got ${String(value)}`);
  }
  return value;
}

function assertFiniteNumber(kernel: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new RangeError(`${kernel}: ${name} must be a finite number, got ${String(value)}`);
  return value;
}

/**
 * Checks that `floats` float32 values starting at byte offset `offset` lie within `memory`, with `offset` a
 * non-negative multiple of 4. A span of 0 floats is always fine (nothing is read).
 */
function assertSpan(kernel: string, name: string, memory: ArrayBuffer, offset: unknown, floats: number): number {
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new RangeError(`${kernel}: ${name} must be a non-negative byte offset that is a multiple of 4, got ${String(offset)}`);
  }
  if (floats > 0 && offset + floats * 4 > memory.byteLength) {
    throw new RangeError(`${kernel}: ${name} (${floats} floats at byte ${offset}) extends past the end of the buffer (${memory.byteLength} bytes)`);
  }
  return offset;
}

/** Whether the float spans [a, a + aFloats) and [b, b + bFloats) (byte offsets) share memory. */
function spansOverlap(a: number, aFloats: number, b: number, bFloats: number): boolean {
  return aFloats > 0 && bFloats > 0 && a < b + 4 * bFloats && b < a + 4 * aFloats;
}

function assertMemory(kernel: string, memory: unknown): ArrayBuffer {
  if (!(memory instanceof ArrayBuffer)) throw new TypeError(`${kernel}: memory must be an ArrayBuffer, got ${Object.prototype.toString.call(memory)}`);
  return memory;
}

function activationCode(kernel: string, activation: string | undefined): number {
  const code = ACTIVATION_CODES[(activation ?? "none") as NativeActivation];
  if (code === undefined) throw new RangeError(`${kernel}: unknown activation ${JSON.stringify(activation)} (one of ${Object.keys(ACTIVATION_CODES).join(", ")})`);
  return code;
}

/** Floats spanned by a [rows, cols] matrix with leading dimension ld (row stride). */
const matrixFloats = (rows: number, cols: number, ld: number) => (rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols);

// ---- kernels ------------------------------------------------------------------------------------------------

/** C = act(op(A)·op(B) [+ C] + bias) per batch entry, float32 row-major; offsets in bytes, strides in floats. */
export interface GemmCall {
  a: number;
  b: number;
  c: number;
  /** [n] added to every row, or undefined. */
  bias?: number;
  m: number;
  n: number;
  k: number;
  /** Row strides in floats; default: dense (k or m for A, n or k for B, n for C). */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** A is stored [k, m] (read transposed). */
  transA?: boolean;
  /** B is stored [n, k] (read transposed). */
  transB?: boolean;
  /** Add the product to C instead of overwriting it. */
  accumulate?: boolean;
  activation?: NativeActivation;
  /** leakyrelu's slope. */
  alpha?: number;
  batch?: number;
  /** Floats between consecutive batch entries; 0 broadcasts one operand. Default: dense. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** An id from `nativePackB` holding B already packed (a weight used again): B is then not read. */
  packedB?: number;
}

/** The native GEMM (or, with `reference`, the plain double-precision triple loop it is checked against). */
export function nativeGemm(memory: ArrayBuffer, call: GemmCall, reference = false): void {
  const kernel = "native gemm";
  assertMemory(kernel, memory);
  const m = assertCount(kernel, "m", call.m);
  const n = assertCount(kernel, "n", call.n);
  const k = assertCount(kernel, "k", call.k);
  const transA = call.transA === true;
  const transB = call.transB === true;
  const [aRows, aCols] = transA ? [k, m] : [m, k];
  const [bRows, bCols] = transB ? [n, k] : [k, n];
  const lda = assertCount(kernel, "lda", call.lda ?? aCols, aCols);
  const ldb = assertCount(kernel, "ldb", call.ldb ?? bCols, bCols);
  const ldc = assertCount(kernel, "ldc", call.ldc ?? n, n);
  const batch = assertCount(kernel, "batch", call.batch ?? 1, 1);
  const aFloats = matrixFloats(aRows, aCols, lda);
  const bFloats = matrixFloats(bRows, bCols, ldb);
  const cFloats = matrixFloats(m, n, ldc);
  const strideA = assertCount(kernel, "strideA", call.strideA ?? aFloats, 0);
  const strideB = assertCount(kernel, "strideB", call.strideB ?? bFloats, 0);
  const strideC = assertCount(kernel, "strideC", call.strideC ?? cFloats, cFloats === 0 ? 0 : cFloats);
  const a = assertSpan(kernel, "a", memory, call.a, aFloats === 0 ? 0 : strideA * (batch - 1) + aFloats);
  const b = assertSpan(kernel, "b", memory, call.b, bFloats === 0 ? 0 : strideB * (batch - 1) + bFloats);
  const c = assertSpan(kernel, "c", memory, call.c, cFloats === 0 ? 0 : strideC * (batch - 1) + cFloats);
  const bias = call.bias === undefined ? -1 : assertSpan(kernel, "bias", memory, call.bias, n);
  const activation = activationCode(kernel, call.activation);
  const alpha = assertFiniteNumber(kernel, "alpha", call.alpha ?? 0);
  const raw = reference ? requireAddon() : kernelAddon("gemm");
  const packedB = assertCount(kernel, "packedB", call.packedB ?? 0);
  raw.gemm(memory, a, b, c, bias, m, n, k, lda, ldb, ldc, +transA, +transB, +(call.accumulate === true), activation, alpha, batch, strideA, strideB, strideC, +reference, packedB);
}

/**
 * Packs op(B) [k, n] (dense, stored [n, k] when `transB`) once for GEMMs that reuse it; returns its id for
 * `GemmCall.packedB`. The packing is a copy: later changes to B's memory are not seen (release it, see
 * `nativeReleasePackedB`). CPU device only.
 */
export function nativePackB(memory: ArrayBuffer, o: { b: number; k: number; n: number; transB: boolean }): number {
  const kernel = "native packB";
  assertMemory(kernel, memory);
  const k = assertCount(kernel, "k", o.k, 1);
  const n = assertCount(kernel, "n", o.n, 1);
  if (k * n > MAX_DIM) throw new RangeError(`${kernel}: k × n must be below 2³¹`);
  const b = assertSpan(kernel, "b", memory, o.b, k * n);
  return requireCall("packB").packB(memory, b, k, n, o.transB ? k : n, +o.transB);
}

/** Frees a packed B (unknown ids are ignored). */
export function nativeReleasePackedB(id: number): void {
  if (nativeHas("releasePackedB")) requireAddon().releasePackedB(id);
}

/** Floats held by packed B's now (0 with an addon that has none). */
export function nativePackedBFloats(): number {
  return nativeHas("packedBFloats") ? requireAddon().packedBFloats() : 0;
}

/** NHWC conv2d geometry (tfjs's Conv2DInfo, flattened). */
export interface NativeConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

const GEOMETRY_FIELDS = [
  "batch", "inHeight", "inWidth", "inChannels", "outHeight", "outWidth", "outChannels", "filterHeight", "filterWidth",
  "strideHeight", "strideWidth", "dilationHeight", "dilationWidth", "padTop", "padLeft",
] as const;

function checkedGeometry(kernel: string, g: NativeConvGeometry): number[] {
  const values = GEOMETRY_FIELDS.map((f) => assertCount(kernel, f, g[f], /^(stride|dilation|filter)/.test(f) ? 1 : 0));
  const taps = g.filterHeight * g.filterWidth * g.inChannels;
  if (taps > MAX_DIM || g.batch * g.outHeight * g.outWidth > MAX_DIM) throw new RangeError(`${kernel}: the convolution is too large`);
  // Every output pixel must see its taps through the padded input: the last tap of the last output is within it
  // (a geometry from tfjs's computeConv2DInfo always is; im2col skips taps outside the input anyway).
  return values;
}

export type ConvKind = "forward" | "backpropInput" | "backpropFilter";

/**
 * forward: y = act(conv(x, w) + bias); backpropInput: dx from (dy, w); backpropFilter: dw from (x, dy).
 * Offsets in bytes; shapes from `g` (x [N, H, W, Cin], w [FH, FW, Cin, Cout], y/dy [N, OH, OW, Cout]).
 */
export function nativeConv2d(
  memory: ArrayBuffer,
  kind: ConvKind,
  g: NativeConvGeometry,
  operands: { x?: number; w?: number; y?: number; dy?: number; dx?: number; dw?: number; bias?: number },
  epilogue: { activation?: NativeActivation; alpha?: number } = {},
): void {
  const kernel = `native conv2d ${kind}`;
  assertMemory(kernel, memory);
  const geometry = checkedGeometry(kernel, g);
  const xFloats = g.batch * g.inHeight * g.inWidth * g.inChannels;
  const wFloats = g.filterHeight * g.filterWidth * g.inChannels * g.outChannels;
  const yFloats = g.batch * g.outHeight * g.outWidth * g.outChannels;
  const raw = requireAddon();
  if (kind === "forward") {
    const x = assertSpan(kernel, "x", memory, operands.x, xFloats);
    const w = assertSpan(kernel, "w", memory, operands.w, wFloats);
    const y = assertSpan(kernel, "y", memory, operands.y, yFloats);
    const bias = operands.bias === undefined ? -1 : assertSpan(kernel, "bias", memory, operands.bias, g.outChannels);
    const activation = activationCode(kernel, epilogue.activation);
    raw.conv2d(memory, 0, x, w, y, bias, ...geometry, activation, assertFiniteNumber(kernel, "alpha", epilogue.alpha ?? 0));
  } else if (kind === "backpropInput") {
    const dy = assertSpan(kernel, "dy", memory, operands.dy, yFloats);
    const w = assertSpan(kernel, "w", memory, operands.w, wFloats);
    const dx = assertSpan(kernel, "dx", memory, operands.dx, xFloats);
    raw.conv2d(memory, 1, dy, w, dx, -1, ...geometry, 0, 0);
  } else if (kind === "backpropFilter") {
    const x = assertSpan(kernel, "x", memory, operands.x, xFloats);
    const dy = assertSpan(kernel, "dy", memory, operands.dy, yFloats);
    const dw = assertSpan(kernel, "dw", memory, operands.dw, wFloats);
    raw.conv2d(memory, 2, x, dy, dw, -1, ...geometry, 0, 0);
  } else {
    throw new RangeError(`native conv2d: unknown kind ${JSON.stringify(kind)}`);
  }
}

/** out [rows, C] = layerNorm(x) over the last axis. */
export function nativeLayerNorm(memory: ArrayBuffer, o: { x: number; gamma: number; beta: number; out: number; rows: number; channels: number; epsilon: number }): void {
  const kernel = "native layerNorm";
  assertMemory(kernel, memory);
  const rows = assertCount(kernel, "rows", o.rows);
  const channels = assertCount(kernel, "channels", o.channels, 1);
  const size = rows * channels;
  const x = assertSpan(kernel, "x", memory, o.x, size);
  const gamma = assertSpan(kernel, "gamma", memory, o.gamma, channels);
  const beta = assertSpan(kernel, "beta", memory, o.beta, channels);
  const out = assertSpan(kernel, "out", memory, o.out, size);
  kernelAddon("layerNorm").layerNorm(memory, x, gamma, beta, out, rows, channels, assertFiniteNumber(kernel, "epsilon", o.epsilon));
}

/** NHWC group norm (+ SiLU): x [samples, pixels, channels]. */
export function nativeGroupNorm(
  memory: ArrayBuffer,
  o: { x: number; gamma: number; beta: number; out: number; samples: number; pixels: number; channels: number; groups: number; epsilon: number; silu: boolean },
): void {
  const kernel = "native groupNorm";
  assertMemory(kernel, memory);
  const samples = assertCount(kernel, "samples", o.samples);
  const pixels = assertCount(kernel, "pixels", o.pixels);
  const channels = assertCount(kernel, "channels", o.channels, 1);
  const groups = assertCount(kernel, "groups", o.groups, 1);
  if (channels % groups !== 0) throw new RangeError(`${kernel}: channels (${channels}) must be a multiple of groups (${groups})`);
  const size = samples * pixels * channels;
  const x = assertSpan(kernel, "x", memory, o.x, size);
  const gamma = assertSpan(kernel, "gamma", memory, o.gamma, channels);
  const beta = assertSpan(kernel, "beta", memory, o.beta, channels);
  const out = assertSpan(kernel, "out", memory, o.out, size);
  kernelAddon("groupNorm").groupNorm(memory, x, gamma, beta, out, samples, pixels, channels, groups, assertFiniteNumber(kernel, "epsilon", o.epsilon), +o.silu);
}

/** y = exp(x) elementwise over `size` floats (≈ 1 ulp; exp(x) = 0 below −87.3, where float32 goes denormal). */
export function nativeExp(memory: ArrayBuffer, o: { x: number; y: number; size: number }): void {
  const kernel = "native exp";
  assertMemory(kernel, memory);
  const size = assertCount(kernel, "size", o.size);
  const x = assertSpan(kernel, "x", memory, o.x, size);
  const y = assertSpan(kernel, "y", memory, o.y, size);
  requireAddon().exp(memory, x, y, size);
}

/** The elementwise binary operations of `nativeBinary`. */
export const BINARY_OPS = { add: 0, sub: 1, mul: 2 } as const;

/**
 * out[r·ns + j] = big[r·ns + j] ∘ small[j] (or small[j] ∘ big[…] when `smallFirst`): `small` (ns floats) broadcast over
 * the leading axes of `big` (n floats, a multiple of ns). out may be big, not small.
 */
export function nativeBinary(memory: ArrayBuffer, o: { big: number; small: number; out: number; n: number; ns: number; op: keyof typeof BINARY_OPS; smallFirst: boolean }): void {
  const kernel = "native binary";
  assertMemory(kernel, memory);
  if (!(o.op in BINARY_OPS)) throw new RangeError(`${kernel}: op must be one of ${Object.keys(BINARY_OPS).join(", ")}, got ${JSON.stringify(o.op)}`);
  const n = assertCount(kernel, "n", o.n);
  const ns = assertCount(kernel, "ns", o.ns, 1);
  if (n % ns !== 0) throw new RangeError(`${kernel}: n (${n}) must be a multiple of ns (${ns})`);
  const big = assertSpan(kernel, "big", memory, o.big, n);
  const small = assertSpan(kernel, "small", memory, o.small, ns);
  const out = assertSpan(kernel, "out", memory, o.out, n);
  if (out !== big && spansOverlap(out, n, big, n)) throw new RangeError(`${kernel}: out overlaps big without being the same span`);
  if (spansOverlap(out, n, small, ns)) throw new RangeError(`${kernel}: out must not overlap small`);
  requireCall("binary").binary(memory, big, small, out, n, ns, BINARY_OPS[o.op], +o.smallFirst);
}

/** A strided block copy of 4-byte words (see nativeCopyBlocks). Counts and strides in words, offsets in bytes. */
export interface CopyBlocksCall {
  src: number;
  dst: number;
  /** Words per block (copied contiguously). */
  run: number;
  /** Blocks along three nested axes (use 1 for unused ones). */
  counts: readonly [number, number, number];
  /** Word strides of the source and the destination along those axes. */
  srcStrides: readonly [number, number, number];
  dstStrides: readonly [number, number, number];
}

/** Extent in words of the blocks at strides `strides` (from the first word to past the last). */
function blocksExtent(run: number, counts: readonly number[], strides: readonly number[]): number {
  return counts.reduce((end, n, i) => end + (n - 1) * strides[i]!, run);
}

/**
 * For i < counts[0], j < counts[1], l < counts[2]: the `run` words at src + (i·s0 + j·s1 + l·s2)·4 go to
 * dst + (i·d0 + j·d1 + l·d2)·4. The two extents must not overlap (SplitV, Concat, Transpose on the heap).
 */
export function nativeCopyBlocks(memory: ArrayBuffer, o: CopyBlocksCall): void {
  const kernel = "native copyBlocks";
  assertMemory(kernel, memory);
  const run = assertCount(kernel, "run", o.run);
  const counts = o.counts.map((n, i) => assertCount(kernel, `counts[${i}]`, n));
  const srcStrides = o.srcStrides.map((n, i) => assertCount(kernel, `srcStrides[${i}]`, n, 0));
  const dstStrides = o.dstStrides.map((n, i) => assertCount(kernel, `dstStrides[${i}]`, n, 0));
  if (counts.length !== 3 || srcStrides.length !== 3 || dstStrides.length !== 3) throw new RangeError(`${kernel}: counts and strides must have 3 entries`);
  if (run === 0 || counts.some((n) => n === 0)) return;
  const srcWords = blocksExtent(run, counts, srcStrides);
  const dstWords = blocksExtent(run, counts, dstStrides);
  const src = assertSpan(kernel, "src", memory, o.src, srcWords);
  const dst = assertSpan(kernel, "dst", memory, o.dst, dstWords);
  if (spansOverlap(src, srcWords, dst, dstWords)) throw new RangeError(`${kernel}: src and dst overlap`);
  requireCall("copyBlocks").copyBlocks(memory, src, dst, run, ...counts, ...srcStrides, ...dstStrides);
}

/** out [cols] = the sums of the columns of x [rows, cols] (a sum over leading axes), float32 in a fixed order. */
export function nativeColumnSums(memory: ArrayBuffer, o: { x: number; out: number; rows: number; cols: number }): void {
  const kernel = "native columnSums";
  assertMemory(kernel, memory);
  const rows = assertCount(kernel, "rows", o.rows);
  const cols = assertCount(kernel, "cols", o.cols);
  if (rows * cols > 2 ** 53) throw new RangeError(`${kernel}: rows × cols is too large`);
  const x = assertSpan(kernel, "x", memory, o.x, rows * cols);
  const out = assertSpan(kernel, "out", memory, o.out, cols);
  if (spansOverlap(out, cols, x, rows * cols)) throw new RangeError(`${kernel}: out must not overlap x`);
  requireCall("columnSums").columnSums(memory, x, out, rows, cols);
}

/**
 * y [rows, n] = softmax of each row of x (y may equal x: in place). A row whose maximum is −∞ gives NaN, as tfjs.
 * On the GPU when the device is "cuda".
 */
export function nativeSoftmax(memory: ArrayBuffer, o: { x: number; y: number; rows: number; n: number }): void {
  const kernel = "native softmax";
  assertMemory(kernel, memory);
  const rows = assertCount(kernel, "rows", o.rows);
  const n = assertCount(kernel, "n", o.n, 1);
  if (rows * n > MAX_DIM) throw new RangeError(`${kernel}: rows × n must be below 2³¹`);
  const x = assertSpan(kernel, "x", memory, o.x, rows * n);
  const y = assertSpan(kernel, "y", memory, o.y, rows * n);
  if (x !== y && Math.abs(x - y) < rows * n * 4) throw new RangeError(`${kernel}: x and y overlap without being the same span`);
  kernelAddon("softmax").softmax(memory, x, y, rows, n);
}

/** The activations whose gradient kernel exists: dx = dy · act′(x). */
export const GRADIENT_ACTIVATIONS = ["gelu", "quickGelu", "silu"] as const;

/** dx = dy · act′(x) over `size` floats for gelu (erf form), quickGelu or silu; dx overlaps neither input. */
export function nativeActivationGrad(memory: ArrayBuffer, o: { x: number; dy: number; dx: number; size: number; activation: (typeof GRADIENT_ACTIVATIONS)[number] }): void {
  const kernel = "native activationGrad";
  assertMemory(kernel, memory);
  if (!GRADIENT_ACTIVATIONS.includes(o.activation)) throw new RangeError(`${kernel}: activation must be one of ${GRADIENT_ACTIVATIONS.join(", ")}, got ${JSON.stringify(o.activation)}`);
  const size = assertCount(kernel, "size", o.size);
  const x = assertSpan(kernel, "x", memory, o.x, size);
  const dy = assertSpan(kernel, "dy", memory, o.dy, size);
  const dx = assertSpan(kernel, "dx", memory, o.dx, size);
  for (const [name, other] of [["x", x], ["dy", dy]] as const) {
    if (size > 0 && Math.abs(other - dx) < size * 4) throw new RangeError(`${kernel}: dx must not overlap ${name}`);
  }
  requireCall("activationGrad").activationGrad(memory, x, dy, dx, size, ACTIVATION_CODES[o.activation]);
}

/** One AdamW step on one parameter (as src/training/adamw.ts): param, m, v updated in place from grad. */
export interface AdamWCall {
  param: number;
  grad: number;
  m: number;
  v: number;
  size: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  /** t of the bias corrections, from 1. */
  step: number;
  /** λ; 0 for a parameter that does not decay. */
  weightDecay: number;
}

/** The AdamW update kernel (native/src/optimizer.cc) on spans of `memory`; the four spans must not overlap. */
export function nativeAdamW(memory: ArrayBuffer, o: AdamWCall): void {
  const kernel = "native adamw";
  assertMemory(kernel, memory);
  const size = assertCount(kernel, "size", o.size);
  const spans = (["param", "grad", "m", "v"] as const).map((name) => [name, assertSpan(kernel, name, memory, o[name], size)] as const);
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length; j++) {
      if (size > 0 && Math.abs(spans[i]![1] - spans[j]![1]) < size * 4) throw new RangeError(`${kernel}: ${spans[i]![0]} and ${spans[j]![0]} overlap`);
    }
  }
  const [beta1, beta2] = [o.beta1, o.beta2].map((b, i) => {
    if (!(typeof b === "number" && b >= 0 && b < 1)) throw new RangeError(`${kernel}: beta${i + 1} must be in [0, 1), got ${String(b)}`);
    return b;
  }) as [number, number];
  const epsilon = assertFiniteNumber(kernel, "epsilon", o.epsilon);
  const learningRate = assertFiniteNumber(kernel, "learningRate", o.learningRate);
  const weightDecay = assertFiniteNumber(kernel, "weightDecay", o.weightDecay);
  const step = assertCount(kernel, "step", o.step, 1);
  if (!(epsilon > 0) || learningRate < 0 || weightDecay < 0) throw new RangeError(`${kernel}: epsilon must be > 0, learningRate and weightDecay ≥ 0`);
  const stepSize = learningRate / (1 - beta1 ** step);
  const biasCorrection2 = 1 - beta2 ** step;
  const [param, grad, m, v] = spans.map(([, offset]) => offset) as [number, number, number, number];
  requireCall("adamw").adamw(memory, param, grad, m, v, size, beta1, beta2, epsilon, stepSize, biasCorrection2, learningRate * weightDecay);
}

/** groupNorm's gradient: dx [samples, pixels, channels], dgamma and dbeta [channels] from dy (through SiLU if `silu`). */
export function nativeGroupNormGrad(
  memory: ArrayBuffer,
  o: {
    x: number; gamma: number; beta: number; dy: number; dx: number; dgamma: number; dbeta: number;
    samples: number; pixels: number; channels: number; groups: number; epsilon: number; silu: boolean;
  },
): void {
  const kernel = "native groupNormGrad";
  assertMemory(kernel, memory);
  const samples = assertCount(kernel, "samples", o.samples);
  const pixels = assertCount(kernel, "pixels", o.pixels);
  const channels = assertCount(kernel, "channels", o.channels, 1);
  const groups = assertCount(kernel, "groups", o.groups, 1);
  if (channels % groups !== 0) throw new RangeError(`${kernel}: channels (${channels}) must be a multiple of groups (${groups})`);
  const size = samples * pixels * channels;
  const spans = (["x", "dy", "dx"] as const).map((name) => assertSpan(kernel, name, memory, o[name], size));
  const perChannel = (["gamma", "beta", "dgamma", "dbeta"] as const).map((name) => assertSpan(kernel, name, memory, o[name], channels));
  const [x, dy, dx] = spans as [number, number, number];
  const [gamma, beta, dgamma, dbeta] = perChannel as [number, number, number, number];
  requireAddon().groupNormGrad(memory, x, gamma, beta, dy, dx, dgamma, dbeta, samples, pixels, channels, groups, assertFiniteNumber(kernel, "epsilon", o.epsilon), +o.silu);
}

/** The shape and attributes of an attention call (forward or backward). */
export interface NativeAttentionShape {
  batch: number;
  heads: number;
  queries: number;
  keys: number;
  headSize: number;
  scale: number;
  causal: boolean;
  /** Element strides of the mask read as [B, H, Tq, Tk] (0 on broadcast axes); with `mask` only. */
  maskStrides?: readonly [number, number, number, number];
}

/** Checks an attention call's sizes, scale and mask span; returns them as the addon takes them. */
function attentionArgs(kernel: string, memory: ArrayBuffer, o: NativeAttentionShape & { mask?: number }) {
  const [b, h, tq, tk, d] = (["batch", "heads", "queries", "keys", "headSize"] as const).map((f) => assertCount(kernel, f, o[f], 1)) as [number, number, number, number, number];
  if (b * h * Math.max(tq, tk) * d > MAX_DIM || tq * tk > MAX_DIM) throw new RangeError(`${kernel}: tensors must hold fewer than 2³¹ elements`);
  let mask = -1;
  const strides = o.maskStrides ?? [0, 0, 0, 0];
  if (strides.length !== 4) throw new RangeError(`${kernel}: maskStrides must have 4 entries`);
  strides.forEach((s, i) => assertCount(kernel, `maskStrides[${i}]`, s));
  if (o.mask !== undefined) {
    const last = (b - 1) * strides[0] + (h - 1) * strides[1] + (tq - 1) * strides[2] + (tk - 1) * strides[3] + 1;
    mask = assertSpan(kernel, "mask", memory, o.mask, last);
  }
  const scale = assertFiniteNumber(kernel, "scale", o.scale);
  return { b, h, tq, tk, d, mask, scale, causal: +o.causal, strides };
}

/** Scaled dot-product attention forward: q [B, H, Tq, D], k and v [B, H, Tk, D], mask read through `maskStrides`. */
export function nativeAttention(
  memory: ArrayBuffer,
  o: NativeAttentionShape & { q: number; k: number; v: number; out: number; mask?: number },
): void {
  const kernel = "native attention";
  assertMemory(kernel, memory);
  const { b, h, tq, tk, d, mask, scale, causal, strides } = attentionArgs(kernel, memory, o);
  const q = assertSpan(kernel, "q", memory, o.q, b * h * tq * d);
  const k = assertSpan(kernel, "k", memory, o.k, b * h * tk * d);
  const v = assertSpan(kernel, "v", memory, o.v, b * h * tk * d);
  const out = assertSpan(kernel, "out", memory, o.out, b * h * tq * d);
  kernelAddon("attention").attention(memory, q, k, v, mask, out, b, h, tq, tk, d, scale, causal, ...strides);
}

/**
 * Self-attention from a packed projection: qkv [B, T, 3·H·D] (q | k | v along the last axis, heads in order) → out
 * [B, T, H·D], each head read and written in place (no mask). out must not overlap qkv. CPU (also when the device is
 * "cuda": it has no CUDA version).
 */
export function nativeQkvAttention(
  memory: ArrayBuffer,
  o: { qkv: number; out: number; batch: number; heads: number; tokens: number; headSize: number; scale: number; causal: boolean },
): void {
  const kernel = "native qkvAttention";
  assertMemory(kernel, memory);
  const b = assertCount(kernel, "batch", o.batch, 1);
  const h = assertCount(kernel, "heads", o.heads, 1);
  const t = assertCount(kernel, "tokens", o.tokens, 1);
  const d = assertCount(kernel, "headSize", o.headSize, 1);
  if (b * t * 3 * h * d > MAX_DIM) throw new RangeError(`${kernel}: qkv must hold fewer than 2³¹ floats`);
  const scale = assertFiniteNumber(kernel, "scale", o.scale);
  const qkv = assertSpan(kernel, "qkv", memory, o.qkv, b * t * 3 * h * d);
  const out = assertSpan(kernel, "out", memory, o.out, b * t * h * d);
  if (spansOverlap(qkv, b * t * 3 * h * d, out, b * t * h * d)) throw new RangeError(`${kernel}: out overlaps qkv`);
  requireCall("qkvAttention").qkvAttention(memory, qkv, out, b, h, t, d, scale, +(o.causal === true));
}

/**
 * Attention's gradient: dq [B, H, Tq, D], dk and dv [B, H, Tk, D] from dout [B, H, Tq, D] (the forward's inputs
 * and attributes as nativeAttention's). The three outputs must overlap neither each other nor any input. CPU only.
 */
export function nativeAttentionGrad(
  memory: ArrayBuffer,
  o: NativeAttentionShape & { q: number; k: number; v: number; mask?: number; dout: number; dq: number; dk: number; dv: number },
): void {
  const kernel = "native attentionGrad";
  assertMemory(kernel, memory);
  const { b, h, tq, tk, d, mask, scale, causal, strides } = attentionArgs(kernel, memory, o);
  const queryFloats = b * h * tq * d;
  const keyFloats = b * h * tk * d;
  const spans: [string, number, number][] = (
    [["q", queryFloats], ["k", keyFloats], ["v", keyFloats], ["dout", queryFloats], ["dq", queryFloats], ["dk", keyFloats], ["dv", keyFloats]] as const
  ).map(([name, floats]) => [name, assertSpan(kernel, name, memory, o[name], floats), floats]);
  const outputs = spans.slice(4);
  for (const [name, offset, floats] of outputs) {
    for (const [other, otherOffset, otherFloats] of spans) {
      if (other === name) continue;
      if (offset < otherOffset + 4 * otherFloats && otherOffset < offset + 4 * floats) throw new RangeError(`${kernel}: ${name} overlaps ${other}`);
    }
    if (mask >= 0 && offset < mask + 4 * ((b - 1) * strides[0] + (h - 1) * strides[1] + (tq - 1) * strides[2] + (tk - 1) * strides[3] + 1) && mask < offset + 4 * floats) {
      throw new RangeError(`${kernel}: ${name} overlaps mask`);
    }
  }
  const [q, k, v, dout, dq, dk, dv] = spans.map(([, offset]) => offset) as [number, number, number, number, number, number, number];
  requireCall("attentionGrad").attentionGrad(memory, q, k, v, mask, dout, dq, dk, dv, b, h, tq, tk, d, scale, causal, ...strides);
}

// ---- configuration ------------------------------------------------------------------------------------------

/** Sets the native thread count (the caller included; default: the CPU count); returns the count in effect. */
export function setNativeThreads(threads: number): number {
  return requireAddon().setThreads(assertCount("setNativeThreads", "threads", threads, 1));
}

export function nativeThreads(): number {
  return requireAddon().threads();
}

/** The instruction set the kernels use now, and the best one this CPU has. */
export function nativeIsa(): { current: NativeIsa; best: NativeIsa } {
  const raw = requireAddon();
  return { current: raw.isa(), best: raw.bestIsa() };
}

/** Selects an instruction set (for tests and benchmarks); false when this CPU lacks it. */
export function setNativeIsa(isa: NativeIsa): boolean {
  if (isa !== "scalar" && isa !== "avx2" && isa !== "avx512") throw new RangeError(`setNativeIsa: unknown ISA ${JSON.stringify(isa)}`);
  return requireAddon().setIsa(isa);
}

/** One thread's fp32 FMA rate in GFLOP/s with the current ISA: a register-only loop, best over `seconds`. */
export function measureFmaPeak(seconds = 0.5): number {
  if (!(seconds > 0 && seconds <= 60)) throw new RangeError(`measureFmaPeak: seconds must be in (0, 60], got ${seconds}`);
  return requireAddon().fmaPeak(seconds);
}
