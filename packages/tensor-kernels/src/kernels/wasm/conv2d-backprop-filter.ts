/**
 * `Conv2DBackpropFilter` (the conv2d weight gradient) for tfjs-backend-wasm, which has none (tfjs 4.22):
 *
 *   dW [K = FH·FW·Cin, Cout] = Σ over blocks of R output pixels  cols [K, R] × dy [R, Cout]
 *
 * im2col on the heap with JS loops (`im2colTransposed` builds the matrix already transposed), then wasm's plain
 * `BatchMatMul` (XNNPACK's GEMM: it is only fast without transposes and with batch 1). The output rows are cut into
 * blocks so that `cols` stays within `colsBudget` floats; the block products are summed in place.
 *
 * NHWC only (dilation is always 1: tfjs's conv2d gradient refuses dilated convolutions); NCHW throws.
 */
import { backend_util, BatchMatMul, Conv2DBackpropFilter } from "@tensorflow/tfjs-core";
import type { Conv2DBackpropFilterAttrs, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { im2colTransposed, type ConvGeometry } from "./im2col.js";
import { asWasm, f32, Intermediates, makeResident, runWasmKernel, withShape, type WasmBackend } from "./wasm-heap.js";

/** The conv geometry of an NHWC conv2d gradient (dilation 1), checking that `dy` has the convolution's output shape. */
export function nhwcConvInfo(
  kernel: string,
  inputShape: readonly number[],
  filterShape: readonly number[],
  attrs: Pick<Conv2DBackpropFilterAttrs, "strides" | "pad" | "dimRoundingMode">,
  dy: TensorInfo,
): backend_util.Conv2DInfo {
  const info = backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  if (info.outShape.some((d, i) => d !== dy.shape[i])) {
    throw new RangeError(`${kernel} on wasm: dy must have shape [${info.outShape.join(", ")}], got [${dy.shape.join(", ")}]`);
  }
  return info;
}

/**
 * Default bound on the im2col block, in floats (4 MiB). It bounds memory (a whole 3×3 im2col is 9× the activation);
 * budgets from 256 KiB to unbounded measured the same within this machine's noise (README.md).
 */
export const DEFAULT_COLS_BUDGET = 1 << 20;

export function convGeometry(info: backend_util.Conv2DInfo): ConvGeometry {
  return {
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
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

export function assertNhwcFloat(kernel: string, dataFormat: string, tensors: Record<string, TensorInfo>): void {
  if (dataFormat !== "NHWC") {
    throw new Error(`${kernel} on wasm (@proj/tensor-kernels) supports dataFormat NHWC only, got ${dataFormat}`);
  }
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== "float32") throw new TypeError(`${kernel} on wasm: ${name} must be float32, got ${t.dtype}`);
    if (t.shape.length !== 4) throw new RangeError(`${kernel} on wasm: ${name} must have rank 4, got [${t.shape.join(", ")}]`);
  }
}

/** Output rows per block so that a [K, rows·OW] (or [rows·OW, K]) matrix holds at most `budget` floats. */
export function rowsPerBlock(k: number, outWidth: number, totalRows: number, budget: number): number {
  return Math.max(1, Math.min(totalRows, Math.floor(budget / (k * outWidth))));
}

export function conv2dBackpropFilter(
  backend: WasmBackend,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
  colsBudget = DEFAULT_COLS_BUDGET,
): TensorInfo {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  assertNhwcFloat(Conv2DBackpropFilter, dataFormat, { x, dy });
  const info = nhwcConvInfo(Conv2DBackpropFilter, x.shape, filterShape, { strides, pad, dimRoundingMode }, dy);
  makeResident(backend, x, dy);
  const g = convGeometry(info);
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const cout = info.outChannels;
  const totalRows = info.batchSize * info.outHeight; // output rows over the batch
  const blockRows = rowsPerBlock(k, info.outWidth, totalRows, colsBudget);
  const scratch = new Intermediates(backend);
  let sum: TensorInfo | undefined; // [K, Cout]: the first block's product, which the later ones are added to
  try {
    for (let rowStart = 0; rowStart < totalRows; rowStart += blockRows) {
      const rowCount = Math.min(blockRows, totalRows - rowStart);
      const r = rowCount * info.outWidth; // output pixels in the block
      const cols = scratch.alloc([k, r]);
      // XNNPACK caches the packed right-hand matrix under its tensor id, so each block gets a fresh dy buffer.
      const whole = rowCount === totalRows;
      const dyBlock = whole ? withShape(dy, [r, cout]) : scratch.alloc([r, cout]);
      im2colTransposed(f32(backend, x), f32(backend, cols), g, rowStart, rowCount);
      if (!whole) {
        const start = rowStart * info.outWidth * cout;
        f32(backend, dyBlock).set(f32(backend, dy).subarray(start, start + r * cout));
      }
      const product = scratch.track(
        runWasmKernel(BatchMatMul, backend, { a: cols, b: dyBlock }, { transposeA: false, transposeB: false }),
      );
      scratch.release(cols);
      if (!whole) scratch.release(dyBlock);
      if (sum === undefined) {
        sum = product;
      } else {
        const total = f32(backend, sum);
        const part = f32(backend, product);
        for (let i = 0; i < total.length; i++) total[i]! += part[i]!;
        scratch.release(product);
      }
    }
    return withShape(scratch.keep(sum!), filterShape.slice());
  } finally {
    scratch.dispose();
  }
}

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  conv2dBackpropFilter(
    asWasm(backend),
    inputs.x as TensorInfo,
    inputs.dy as TensorInfo,
    attrs as unknown as Conv2DBackpropFilterAttrs,
  );

export const conv2dBackpropFilterWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc,
};
