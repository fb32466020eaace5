/**
 * `Conv2DBackpropInput` (the conv2d input gradient, also conv2dTranspose) for tfjs-backend-wasm, replacing its naive
 * direct loop (tfjs 4.22) with col2im + plain GEMM:
 *
 *   cols [R, FH·FW·Cin] = dy [R, Cout] × Wᵀ [Cout, FH·FW·Cin]     (wasm's plain BatchMatMul, XNNPACK)
 *   dx [N, H, W, Cin]  += col2im(cols)                             (JS loop on the heap)
 *
 * over blocks of output rows so that `cols` stays within a budget. Wᵀ is a small JS transpose of the filter.
 * NHWC float32 only: the override in gap-kernels.ts hands anything else to the original kernel.
 */
import { BatchMatMul, Conv2DBackpropInput } from "@tensorflow/tfjs-core";
import type { Conv2DBackpropInputAttrs, TensorInfo } from "@tensorflow/tfjs-core";
import { assertNhwcFloat, convGeometry, DEFAULT_COLS_BUDGET, nhwcConvInfo, rowsPerBlock } from "./conv2d-backprop-filter.js";
import { col2imAdd } from "./im2col.js";
import { f32, Intermediates, makeResident, runWasmKernel, withShape, type WasmBackend } from "./wasm-heap.js";

export function conv2dBackpropInput(
  backend: WasmBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
  colsBudget = DEFAULT_COLS_BUDGET,
): TensorInfo {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  assertNhwcFloat(Conv2DBackpropInput, dataFormat, { dy, filter });
  const info = nhwcConvInfo(Conv2DBackpropInput, inputShape, filter.shape, { strides, pad, dimRoundingMode }, dy);
  makeResident(backend, dy, filter);
  const g = convGeometry(info);
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const cout = info.outChannels;
  const totalRows = info.batchSize * info.outHeight;
  const blockRows = rowsPerBlock(k, info.outWidth, totalRows, colsBudget);
  const scratch = new Intermediates(backend);
  try {
    const dx = scratch.alloc(inputShape.slice());
    const filterT = scratch.alloc([cout, k]); // Wᵀ, reused by every block (same contents, so XNNPACK's cache is right)
    f32(backend, dx).fill(0);
    transpose2d(f32(backend, filter), f32(backend, filterT), k, cout);
    for (let rowStart = 0; rowStart < totalRows; rowStart += blockRows) {
      const rowCount = Math.min(blockRows, totalRows - rowStart);
      const r = rowCount * info.outWidth;
      const whole = rowCount === totalRows;
      const dyBlock = whole ? withShape(dy, [r, cout]) : scratch.alloc([r, cout]);
      if (!whole) {
        const start = rowStart * info.outWidth * cout;
        f32(backend, dyBlock).set(f32(backend, dy).subarray(start, start + r * cout));
      }
      const cols = scratch.track(
        runWasmKernel(BatchMatMul, backend, { a: dyBlock, b: filterT }, { transposeA: false, transposeB: false }),
      );
      if (!whole) scratch.release(dyBlock);
      col2imAdd(f32(backend, cols), f32(backend, dx), g, rowStart, rowCount);
      scratch.release(cols);
    }
    return scratch.keep(dx);
  } finally {
    scratch.dispose();
  }
}

/** out [cols, rows] = in [rows, cols]ᵀ, in blocks of 32 × 32. */
function transpose2d(input: Float32Array, out: Float32Array, rows: number, cols: number): void {
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = input[r * cols + c]!;
      }
    }
  }
}
