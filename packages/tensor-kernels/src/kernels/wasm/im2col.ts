/**
 * The two host loops that turn the conv2d gradients into plain matrix multiplies (NHWC, row-major):
 *
 *   im2colTransposed  x  [N, H, W, Cin]  →  cols [K, R]   (K = FH·FW·Cin, R = output pixels of a block of rows)
 *                     so that the filter gradient is  dW [K, Cout] = cols [K, R] × dy [R, Cout]  (no transposes).
 *   col2imAdd         cols [R, K]  →  dx [N, H, W, Cin], adding;  cols = dy [R, Cout] × Wᵀ [Cout, K].
 *
 * Column k = (fh·FW + fw)·Cin + ci is the layout of a [FH, FW, Cin, Cout] filter flattened to [K, Cout].
 * Input pixel of output (oh, ow) and tap (fh, fw):  ih = oh·sh + fh·dh − padTop,  iw = ow·sw + fw·dw − padLeft;
 * taps outside the image read zero (im2col) or are dropped (col2im).
 *
 * Both work on a block of whole output rows: global rows [rowStart, rowStart + rowCount) of the N·OH rows, so that
 * a caller can bound the size of `cols`.
 */

/** The conv2d geometry both loops need (a subset of tfjs's `Conv2DInfo`). */
export interface ConvGeometry {
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

/** The output columns [lo, hi) whose tap `fw` lands inside the input row. */
function validColumns(g: ConvGeometry, fw: number): [number, number] {
  const offset = fw * g.dilationWidth - g.padLeft; // iw = ow·sw + offset
  const lo = Math.min(g.outWidth, Math.max(0, Math.ceil(-offset / g.strideWidth)));
  const hi = Math.max(lo, Math.min(g.outWidth, Math.floor((g.inWidth - 1 - offset) / g.strideWidth) + 1));
  return [lo, hi];
}

/**
 * cols[k, r·OW + ow] = x[n, ih, iw, ci] for the output rows r of the block (n = row / OH, oh = row % OH).
 * cols has K rows of rowCount·OW entries. Reads stay within one input row at a time; writes are sequential.
 */
export function im2colTransposed(x: Float32Array, cols: Float32Array, g: ConvGeometry, rowStart: number, rowCount: number): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const rowLength = rowCount * OW; // entries per row of cols
  const step = g.strideWidth * C; // x stride between neighbouring output columns
  for (let fh = 0; fh < g.filterHeight; fh++) {
    for (let fw = 0; fw < g.filterWidth; fw++) {
      const kBase = (fh * g.filterWidth + fw) * C;
      const [lo, hi] = validColumns(g, fw);
      const iwLo = lo * g.strideWidth + fw * g.dilationWidth - g.padLeft;
      for (let r = 0; r < rowCount; r++) {
        const row = rowStart + r;
        const n = Math.floor(row / OH);
        const ih = (row - n * OH) * g.strideHeight + fh * g.dilationHeight - g.padTop;
        const colBase = kBase * rowLength + r * OW;
        if (ih < 0 || ih >= H) {
          for (let c = 0; c < C; c++) cols.fill(0, colBase + c * rowLength, colBase + c * rowLength + OW);
          continue;
        }
        const xStart = ((n * H + ih) * W + iwLo) * C;
        for (let c = 0; c < C; c++) {
          const out = colBase + c * rowLength;
          if (lo > 0) cols.fill(0, out, out + lo);
          let xi = xStart + c;
          for (let ow = lo; ow < hi; ow++, xi += step) cols[out + ow] = x[xi]!;
          if (hi < OW) cols.fill(0, out + hi, out + OW);
        }
      }
    }
  }
}

/**
 * dx[n, ih, iw, ci] += cols[r·OW + ow, k] for the output rows r of the block; dx must be zeroed beforehand.
 * cols has rowCount·OW rows of K entries. Reads are sequential; each tap adds a run of Cin contiguous values.
 */
export function col2imAdd(cols: Float32Array, dx: Float32Array, g: ConvGeometry, rowStart: number, rowCount: number): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const K = g.filterHeight * g.filterWidth * C;
  const columns: [number, number][] = [];
  for (let fw = 0; fw < g.filterWidth; fw++) columns.push(validColumns(g, fw));
  for (let r = 0; r < rowCount; r++) {
    const row = rowStart + r;
    const n = Math.floor(row / OH);
    const oh = row - n * OH;
    for (let fh = 0; fh < g.filterHeight; fh++) {
      const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padTop;
      if (ih < 0 || ih >= H) continue;
      const dxRow = (n * H + ih) * W;
      for (let fw = 0; fw < g.filterWidth; fw++) {
        const [lo, hi] = columns[fw]!;
        const kOffset = (fh * g.filterWidth + fw) * C;
        for (let ow = lo; ow < hi; ow++) {
          const iw = ow * g.strideWidth + fw * g.dilationWidth - g.padLeft;
          const src = (r * OW + ow) * K + kOffset;
          const dst = (dxRow + iw) * C;
          for (let c = 0; c < C; c++) dx[dst + c]! += cols[src + c]!;
        }
      }
    }
  }
}
