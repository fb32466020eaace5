/**
 * Decoding of encoded PNG / JPEG bytes into 8-bit RGB(A) pixels (pure JS: `fast-png`, `jpeg-js`).
 *
 * Output follows what Pillow hands the reference preprocessing where it can be matched with 8-bit RGB(A):
 * - 16-bit samples keep their high byte (Pillow's `RGB;16B` / `RGBA;16B` unpackers do the same).
 * - Gray becomes RGB by replication, gray+alpha becomes RGBA; palette images are expanded to RGB(A).
 *   (Pillow keeps these as modes `L`, `LA`, `P`, `I;16`; for `P` and 1-bit images its `resize` silently uses NEAREST,
 *   which we do not reproduce — we always resample bicubically.)
 */
import { convertIndexedToRgb, decode as decodePng } from "fast-png";
import { decode as decodeJpeg } from "jpeg-js";

/** Row-major HWC 8-bit pixels. `channels: 4` means RGBA (alpha straight, not premultiplied). */
export interface RgbImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff] as const;

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

/** Decodes PNG (1–16-bit gray, gray+alpha, RGB, RGBA, palette) or baseline/progressive JPEG, chosen by signature. */
export function decodeImage(bytes: Uint8Array): RgbImage {
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePngImage(bytes);
  if (startsWith(bytes, JPEG_SIGNATURE)) return decodeJpegImage(bytes);
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new Error(`decodeImage: unsupported image format (expected PNG or JPEG signature, got bytes [${head}])`);
}

function decodeJpegImage(bytes: Uint8Array): RgbImage {
  const { data, width, height } = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false });
  checkSize(width, height);
  return { data, width, height, channels: 3 };
}

function decodePngImage(bytes: Uint8Array): RgbImage {
  const png = decodePng(bytes);
  const { width, height, depth, channels } = png;
  checkSize(width, height);
  if (png.palette !== undefined && channels === 1) {
    const rgb = convertIndexedToRgb(png);
    const paletteChannels = rgb.length / (width * height);
    if (paletteChannels !== 3 && paletteChannels !== 4) {
      throw new Error(`decodeImage: unexpected palette expansion to ${paletteChannels} channels`);
    }
    return { data: rgb, width, height, channels: paletteChannels };
  }
  const samples = toEightBit(png.data, width * channels, height, depth);
  switch (channels) {
    case 1:
      return { data: expandGray(samples, width * height, false), width, height, channels: 3 };
    case 2:
      return { data: expandGray(samples, width * height, true), width, height, channels: 4 };
    case 3:
    case 4:
      return { data: samples, width, height, channels };
    default:
      throw new Error(`decodeImage: unsupported PNG channel count ${channels}`);
  }
}

function checkSize(width: number, height: number): void {
  if (!(width > 0 && height > 0)) throw new Error(`decodeImage: zero-size image (${width}x${height})`);
}

/** Samples of any PNG bit depth → one byte per sample (16-bit: high byte; 1/2/4-bit gray: unpacked and scaled). */
function toEightBit(
  data: Uint8Array | Uint8ClampedArray | Uint16Array,
  samplesPerRow: number,
  rows: number,
  depth: number,
): Uint8Array | Uint8ClampedArray {
  if (depth === 8) return data as Uint8Array | Uint8ClampedArray;
  const out = new Uint8Array(samplesPerRow * rows);
  if (depth === 16) {
    for (let i = 0; i < out.length; i++) out[i] = (data[i] ?? 0) >> 8;
    return out;
  }
  // Sub-byte depths: rows are packed MSB first and padded to whole bytes.
  const bytesPerRow = Math.ceil((samplesPerRow * depth) / 8);
  const maxValue = (1 << depth) - 1;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < samplesPerRow; x++) {
      const bit = x * depth;
      const byte = data[y * bytesPerRow + (bit >> 3)] ?? 0;
      const value = (byte >> (8 - depth - (bit & 7))) & maxValue;
      out[y * samplesPerRow + x] = Math.round((value * 255) / maxValue);
    }
  }
  return out;
}

function expandGray(gray: Uint8Array | Uint8ClampedArray, pixels: number, hasAlpha: boolean): Uint8Array {
  const inChannels = hasAlpha ? 2 : 1;
  const outChannels = hasAlpha ? 4 : 3;
  const out = new Uint8Array(pixels * outChannels);
  for (let p = 0; p < pixels; p++) {
    const v = gray[p * inChannels] ?? 0;
    out[p * outChannels] = v;
    out[p * outChannels + 1] = v;
    out[p * outChannels + 2] = v;
    if (hasAlpha) out[p * outChannels + 3] = gray[p * inChannels + 1] ?? 0;
  }
  return out;
}
