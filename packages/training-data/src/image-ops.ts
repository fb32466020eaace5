/**
 * Pixels: PNG bytes → 8-bit RGBA, and one augmented, composited, downsampled image written into a batch buffer.
 * Plain loops over typed arrays; no tensors (the consumer makes those).
 */
import { convertIndexedToRgb, decode as decodePng, encode as encodePng } from "fast-png";
import type { Augmentation } from "./augmentation.js";

/** Row-major RGBA, 8 bits per channel, straight (not premultiplied) alpha. */
export interface RgbaImage {
  data: Uint8Array; // [H, W, 4]
  width: number;
  height: number;
}

/**
 * Decodes an 8-bit PNG of any colour type (gray, gray+alpha, RGB, RGBA, palette with or without tRNS) to RGBA.
 * (The emoji sets use RGBA, gray+alpha, RGB and 4/8-bit palettes.)
 */
export function decodePngToRgba(bytes: Uint8Array): RgbaImage {
  const png = decodePng(bytes);
  const { width, height } = png;
  const pixels = width * height;
  const out = new Uint8Array(pixels * 4);
  if (png.palette !== undefined) {
    const expanded = convertIndexedToRgb(png); // [H, W, 3 or 4]
    const channels = expanded.length / pixels;
    for (let i = 0; i < pixels; i++) {
      out[4 * i] = expanded[channels * i]!;
      out[4 * i + 1] = expanded[channels * i + 1]!;
      out[4 * i + 2] = expanded[channels * i + 2]!;
      out[4 * i + 3] = channels === 4 ? expanded[channels * i + 3]! : 255;
    }
    return { data: out, width, height };
  }
  if (png.depth !== 8) throw new Error(`decodePngToRgba: unsupported bit depth ${png.depth}`);
  const data = png.data;
  const channels = png.channels;
  // tRNS on gray/RGB names one fully transparent colour.
  const key = png.transparency !== undefined && png.transparency.length > 0 ? png.transparency : undefined;
  for (let i = 0; i < pixels; i++) {
    const s = channels * i;
    let r: number, g: number, b: number, a: number;
    if (channels >= 3) {
      r = data[s]!;
      g = data[s + 1]!;
      b = data[s + 2]!;
      a = channels === 4 ? data[s + 3]! : 255;
    } else {
      r = g = b = data[s]!;
      a = channels === 2 ? data[s + 1]! : 255;
    }
    if (key !== undefined && channels < 3 && r === key[0]) a = 0;
    if (key !== undefined && channels === 3 && r === key[0] && g === key[1] && b === key[2]) a = 0;
    out[4 * i] = r;
    out[4 * i + 1] = g;
    out[4 * i + 2] = b;
    out[4 * i + 3] = a;
  }
  return { data: out, width, height };
}

/** Encodes 8-bit RGB or RGBA pixels as PNG. */
export function encodePng8(data: Uint8Array, width: number, height: number, channels: 3 | 4): Uint8Array {
  return encodePng({ data, width, height, channels, depth: 8 });
}

/** How `renderImage` writes pixels. */
export interface RenderOptions {
  /** Output side; must divide the source side (64 → 64, 32, 16, …), reduced by averaging factor×factor boxes. */
  size: number;
  /** "rgb": composited over the background; "rgba": straight alpha (box-averaged premultiplied, then divided). */
  format: "rgb" | "rgba";
  /** Background RGB in [0, 1] where the augmentation gives none. */
  background: readonly [number, number, number];
}

/**
 * Writes one source image, flipped/shifted by `augmentation`, as floats in [0, 1] into `out` at `offset`
 * ([size, size, 3] for "rgb", [size, size, 4] for "rgba").
 */
export function renderImage(
  source: RgbaImage,
  augmentation: Augmentation,
  options: RenderOptions,
  out: Float32Array,
  offset: number,
): void {
  const { width, height, data } = source;
  const { size, format } = options;
  if (width !== height || width % size !== 0) {
    throw new Error(`renderImage: cannot reduce a ${width}×${height} image to ${size}×${size} by whole boxes`);
  }
  const factor = width / size;
  const channels = format === "rgb" ? 3 : 4;
  const [bgR, bgG, bgB] = augmentation.background ?? options.background;
  const inv255 = 1 / 255;
  const boxArea = factor * factor;
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      // Sums over the factor×factor box of premultiplied colour and alpha.
      let r = 0, g = 0, b = 0, a = 0;
      for (let dy = 0; dy < factor; dy++) {
        const sy = oy * factor + dy - augmentation.shiftY;
        if (sy < 0 || sy >= height) continue;
        for (let dx = 0; dx < factor; dx++) {
          const shifted = ox * factor + dx - augmentation.shiftX;
          if (shifted < 0 || shifted >= width) continue;
          const sx = augmentation.flip ? width - 1 - shifted : shifted;
          const s = 4 * (sy * width + sx);
          const alpha = data[s + 3]! * inv255;
          r += data[s]! * inv255 * alpha;
          g += data[s + 1]! * inv255 * alpha;
          b += data[s + 2]! * inv255 * alpha;
          a += alpha;
        }
      }
      r /= boxArea;
      g /= boxArea;
      b /= boxArea;
      a /= boxArea;
      const o = offset + channels * (oy * size + ox);
      if (channels === 3) {
        out[o] = r + (1 - a) * bgR;
        out[o + 1] = g + (1 - a) * bgG;
        out[o + 2] = b + (1 - a) * bgB;
      } else {
        const unpremultiply = a > 0 ? 1 / a : 0;
        out[o] = Math.min(1, r * unpremultiply);
        out[o + 1] = Math.min(1, g * unpremultiply);
        out[o + 2] = Math.min(1, b * unpremultiply);
        out[o + 3] = a;
      }
    }
  }
}
