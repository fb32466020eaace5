/**
 * CLIP image preprocessing at exact parity with the reference `clip.clip._transform(N)`:
 *
 *   torchvision 0.14 `Resize(N, BICUBIC)` on a PIL image → `CenterCrop(N)` → `convert("RGB")` → `ToTensor()`
 *   → `Normalize(CLIP_MEAN, CLIP_STD)`
 *
 * The resize reproduces Pillow 9's 8-bit `ImagingResample` (Resample.c) integer arithmetic, so resized pixels match
 * byte for byte; normalisation is done in float32 in the reference's operation order, so `preprocess` matches
 * `pixel_values` to float32 rounding. Output is NHWC (the reference is NCHW).
 */
import { readNodeFile } from "./node-file.js";
import * as tf from "@tensorflow/tfjs-core";
import { decodeImage, type RgbImage } from "./image-decode.js";

export { decodeImage, type RgbImage } from "./image-decode.js";

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** Pixels already decoded: row-major HWC, 3 (RGB) or 4 (RGBA) channels; `channels` is inferred when absent. */
export interface RgbImageLike {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels?: number;
}

/** Browser image sources, drawn onto a canvas to read their pixels. */
export type BrowserImageSource = ImageBitmap | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas;

/** Encoded PNG/JPEG bytes, a file path (Node only), decoded pixels (incl. `ImageData`) or a browser image source. */
export type ImageInput = Uint8Array | ArrayBuffer | string | RgbImageLike | BrowserImageSource;

export interface PreprocessOptions {
  /** Output side length N (the model's input resolution); default 224. */
  size?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Pillow-exact bicubic resampling (Pillow 9.4 `libImaging/Resample.c`)
// ---------------------------------------------------------------------------------------------------------------

/** Fixed-point fraction bits of the 8-bit resampler's coefficients: 32 − 8 − 2. */
const PRECISION_BITS = 22;
const PRECISION_SCALE = 2 ** PRECISION_BITS;
/** Bicubic kernel support (in input pixels, before scaling by the downscale factor). */
const BICUBIC_SUPPORT = 2;

/** Keys' cubic convolution kernel with a = −0.5 (Pillow's `bicubic_filter`). */
function bicubicFilter(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/** Per output pixel: first input index, tap count, and the fixed-point weights (`ksize` per pixel). */
interface ResampleCoefficients {
  start: Int32Array; // [outSize]
  count: Int32Array; // [outSize]
  weights: Int32Array; // [outSize * ksize]
  ksize: number;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the box [0, inSize). */
function precomputeCoefficients(inSize: number, outSize: number): ResampleCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1); // antialias: widen the kernel when downscaling
  const support = BICUBIC_SUPPORT * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const invScale = 1 / filterScale;
    // C `(int)` truncates toward zero; the arguments here are > −1, so truncation then clamping is what Pillow does.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubicFilter((x + xmin - center + 0.5) * invScale);
      k[x] = w;
      sum += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? (k[x] ?? 0) / sum : (k[x] ?? 0);
      // Round half away from zero into fixed point, as `normalize_coeffs_8bpc` does.
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * PRECISION_SCALE) : Math.trunc(0.5 + w * PRECISION_SCALE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, weights, ksize };
}

/** `clip8`: drop the fixed-point fraction (arithmetic shift = floor) and clamp to [0, 255]. */
function clip8(accumulator: number): number {
  const v = Math.floor(accumulator / PRECISION_SCALE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One separable pass along x (`horizontal`) or y; every output sample is rounded and clipped to uint8. */
function resamplePass(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outSize: number,
  horizontal: boolean,
): Uint8Array {
  const { start, count, weights, ksize } = precomputeCoefficients(horizontal ? width : height, outSize);
  const outWidth = horizontal ? outSize : width;
  const outHeight = horizontal ? height : outSize;
  const out = new Uint8Array(outWidth * outHeight * channels);
  const rowStride = width * channels;
  // Sums stay below 2^31 in Pillow's INT32 (|Σw| ≲ 1.3 · 2^22 · 255); in doubles they are exact.
  const rounding = 2 ** (PRECISION_BITS - 1);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const o = horizontal ? x : y;
      const first = start[o] ?? 0;
      const taps = count[o] ?? 0;
      const kOffset = o * ksize;
      for (let c = 0; c < channels; c++) {
        let acc = rounding;
        for (let t = 0; t < taps; t++) {
          const index = horizontal
            ? y * rowStride + (first + t) * channels + c // along the row
            : (first + t) * rowStride + x * channels + c; // down the column
          acc += (src[index] ?? 0) * (weights[kOffset + t] ?? 0);
        }
        out[(y * outWidth + x) * channels + c] = clip8(acc);
      }
    }
  }
  return out;
}

/** Pillow's RGBA → RGBa: `MULDIV255(c, a)` = ((t >> 8) + t) >> 8 with t = c·a + 128. */
function premultiplyAlpha(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += 4) {
    const alpha = data[i + 3] ?? 0;
    for (let c = 0; c < 3; c++) {
      const t = (data[i + c] ?? 0) * alpha + 128;
      out[i + c] = ((t >> 8) + t) >> 8;
    }
    out[i + 3] = alpha;
  }
  return out;
}

/** Pillow's RGBa → RGBA: `CLIP8(255 · c / a)` with integer division; alpha 0 or 255 leaves colour as is. */
function unpremultiplyAlpha(data: Uint8Array): Uint8Array {
  for (let i = 0; i < data.length; i += 4) {
    const alpha = data[i + 3] ?? 0;
    if (alpha === 0 || alpha === 255) continue;
    for (let c = 0; c < 3; c++) data[i + c] = Math.min(255, Math.trunc((255 * (data[i + c] ?? 0)) / alpha));
  }
  return data;
}

function checkImage(image: RgbImage, where: string): void {
  const { width, height, channels, data } = image;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`${where}: zero-size or invalid image size ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) {
    throw new Error(`${where}: wrong channel count ${String(channels)} (expected 3 or 4)`);
  }
  if (data.length !== width * height * channels) {
    throw new Error(`${where}: data length ${data.length} does not match ${width}x${height}x${channels}`);
  }
}

function checkPositiveInteger(value: number, what: string, where: string): void {
  if (!(Number.isInteger(value) && value > 0)) {
    throw new Error(`${where}: ${what} must be a positive integer, got ${value}`);
  }
}

/**
 * Pillow-exact 8-bit `Image.resize((width, height), BICUBIC)`: horizontal pass then vertical pass (each skipped when
 * that side keeps its size), a same-size resize is a copy. RGBA is resampled premultiplied (RGBa) like Pillow.
 */
export function resizeBicubic(image: RgbImage, width: number, height: number): RgbImage {
  checkImage(image, "resizeBicubic");
  checkPositiveInteger(width, "width", "resizeBicubic");
  checkPositiveInteger(height, "height", "resizeBicubic");
  const { channels } = image;
  let data: Uint8Array = Uint8Array.from(image.data);
  if (width === image.width && height === image.height) return { data, width, height, channels };
  if (channels === 4) data = premultiplyAlpha(data);
  let currentWidth = image.width;
  if (width !== image.width) {
    data = resamplePass(data, image.width, image.height, channels, width, true);
    currentWidth = width;
  }
  if (height !== image.height) data = resamplePass(data, currentWidth, image.height, channels, height, false);
  if (channels === 4) data = unpremultiplyAlpha(data);
  return { data, width, height, channels };
}

/** Python's `round` (half to even) for the crop offsets. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** torchvision 0.14 `Resize(size)` output size for an int size: short side → size, long side truncated. */
export function clipResizedSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** torchvision `center_crop` offsets: `int(round((W − N) / 2))`, `int(round((H − N) / 2))`. */
export function centerCropOffsets(width: number, height: number, size: number): { left: number; top: number } {
  return { left: roundHalfEven((width - size) / 2), top: roundHalfEven((height - size) / 2) };
}

/** `Resize(size, BICUBIC)` then `CenterCrop(size)`: a size×size image with the input's channel count. */
export function clipResizeCrop(image: RgbImage, size: number): RgbImage {
  checkImage(image, "clipResizeCrop");
  checkPositiveInteger(size, "size", "clipResizeCrop");
  const target = clipResizedSize(image.width, image.height, size);
  const resized = resizeBicubic(image, target.width, target.height);
  const { left, top } = centerCropOffsets(resized.width, resized.height, size);
  const { channels } = resized;
  const out = new Uint8Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * resized.width + left) * channels;
    out.set(resized.data.subarray(from, from + size * channels), y * size * channels);
  }
  return { data: out, width: size, height: size, channels };
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs → pixels
// ---------------------------------------------------------------------------------------------------------------

function isRgbImageLike(input: unknown): input is RgbImageLike {
  if (typeof input !== "object" || input === null) return false;
  const { data, width, height } = input as Partial<RgbImageLike>;
  const pixels = data instanceof Uint8Array || data instanceof Uint8ClampedArray;
  return pixels && typeof width === "number" && typeof height === "number";
}

function fromPixels(input: RgbImageLike): RgbImage {
  const { data, width, height } = input;
  if (!(width > 0 && height > 0)) throw new Error(`preprocess: zero-size image (${width}x${height})`);
  const channels = input.channels ?? data.length / (width * height);
  if (channels !== 3 && channels !== 4) {
    throw new Error(`preprocess: wrong channel count ${channels} for ${width}x${height} pixels (expected 3 or 4)`);
  }
  return { data, width, height, channels };
}

function isBrowserSource(input: unknown): input is BrowserImageSource {
  return (
    (typeof ImageBitmap !== "undefined" && input instanceof ImageBitmap) ||
    (typeof HTMLImageElement !== "undefined" && input instanceof HTMLImageElement) ||
    (typeof HTMLCanvasElement !== "undefined" && input instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== "undefined" && input instanceof OffscreenCanvas)
  );
}

/** Draws a browser source onto a canvas and reads back straight-alpha RGBA. */
function fromBrowserSource(source: BrowserImageSource): RgbImage {
  const width = "naturalWidth" in source ? source.naturalWidth : source.width;
  const height = "naturalHeight" in source ? source.naturalHeight : source.height;
  if (!(width > 0 && height > 0)) throw new Error(`preprocess: zero-size image (${width}x${height})`);
  let context: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
  if (typeof OffscreenCanvas !== "undefined") {
    context = new OffscreenCanvas(width, height).getContext("2d");
  } else if (typeof document !== "undefined") {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    context = canvas.getContext("2d");
  } else {
    throw new Error("preprocess: no canvas available to read browser image pixels");
  }
  if (context === null) throw new Error("preprocess: could not get a 2d canvas context");
  context.drawImage(source, 0, 0);
  const { data } = context.getImageData(0, 0, width, height);
  return { data, width, height, channels: 4 };
}

async function toRgbImage(input: ImageInput): Promise<RgbImage> {
  if (typeof input === "string") {
    return decodeImage(await readNodeFile(input)); // a path (Node)
  }
  if (input instanceof ArrayBuffer) return decodeImage(new Uint8Array(input));
  if (input instanceof Uint8Array) return decodeImage(input);
  if (isRgbImageLike(input)) return fromPixels(input); // also ImageData (RGBA)
  if (isBrowserSource(input)) return fromBrowserSource(input);
  throw new Error("preprocess: unsupported image input (expected bytes, a path, pixels or a browser image source)");
}

// ---------------------------------------------------------------------------------------------------------------
// Public pipeline
// ---------------------------------------------------------------------------------------------------------------

/**
 * CLIP preprocessing of one or more images → `[N, size, size, 3]` float32 NHWC, normalised with CLIP_MEAN/CLIP_STD.
 * Creates exactly one tensor (the result).
 */
export async function preprocess(
  images: ImageInput | ImageInput[],
  options: PreprocessOptions = {},
): Promise<tf.Tensor4D> {
  // 1. Check inputs.
  const size = options.size ?? 224;
  checkPositiveInteger(size, "size", "preprocess");
  const list = Array.isArray(images) ? images : [images];
  if (list.length === 0) throw new Error("preprocess: empty image list");

  // 2. Resize + crop each image, drop alpha (`convert("RGB")`), scale and normalise in float32 like
  //    `ToTensor()` (x / 255) then `Normalize` ((x − mean) / std), rounding to float32 after each step.
  const mean = CLIP_MEAN.map(Math.fround);
  const std = CLIP_STD.map(Math.fround);
  const plane = size * size;
  const values = new Float32Array(list.length * plane * 3); // [N, size, size, 3]
  for (let n = 0; n < list.length; n++) {
    const cropped = clipResizeCrop(await toRgbImage(list[n] as ImageInput), size);
    const { data, channels } = cropped;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const x = Math.fround((data[p * channels + c] ?? 0) / 255);
        values[(n * plane + p) * 3 + c] = Math.fround(x - (mean[c] ?? 0)) / (std[c] ?? 1);
      }
    }
  }

  // 3. One tensor out.
  return tf.tensor4d(values, [list.length, size, size, 3], "float32");
}
