/**
 * Pixels: PNG bytes → 8-bit RGBA, and one augmented, composited, downsampled image written into a batch buffer.
 * Plain loops over typed arrays; no tensors (the consumer makes those). Other formats (the Fluent WebPs) are decoded
 * and shrunk by sharp (libvips).
 */
import { convertIndexedToRgb, decode as decodePng, encode as encodePng } from "fast-png";
import sharp from "sharp";
import { jittersColour, resamples, type Augmentation } from "./augmentation.js";

/** Row-major RGBA, 8 bits per channel, straight (not premultiplied) alpha. */
export interface RgbaImage {
  data: Uint8Array; // [H, W, 4]
  width: number;
  height: number;
}

/**
 * Decodes any image sharp reads (WebP, PNG, …) and resizes it to size×size RGBA (Lanczos-3 on premultiplied alpha,
 * so transparent pixels do not bleed colour into the edges).
 */
export async function decodeImageToRgba(bytes: Uint8Array, size: number): Promise<RgbaImage> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`decodeImageToRgba: size must be a positive integer (got ${size})`);
  const { data, info } = await sharp(bytes).ensureAlpha().resize(size, size, { fit: "fill" }).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 4 || info.width !== size || info.height !== size) {
    throw new Error(`decodeImageToRgba: expected ${size}×${size}×4, got ${info.width}×${info.height}×${info.channels}`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: size, height: size };
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
 * Writes one source image, augmented by `augmentation`, as floats in [0, 1] into `out` at `offset`
 * ([size, size, 3] for "rgb", [size, size, 4] for "rgba"). Flips and whole-pixel shifts copy source pixels; zoom and
 * rotation resample the source bilinearly at each of the factor×factor points an output pixel averages; colour
 * jitter is applied to each output pixel's straight (unpremultiplied) colour before compositing.
 */
export function renderImage(
  source: RgbaImage,
  augmentation: Augmentation,
  options: RenderOptions,
  out: Float32Array,
  offset: number,
): void {
  const { width, height } = source;
  const { size, format } = options;
  if (width !== height || width % size !== 0) {
    throw new Error(`renderImage: cannot reduce a ${width}×${height} image to ${size}×${size} by whole boxes`);
  }
  const factor = width / size;
  const channels = format === "rgb" ? 3 : 4;
  const [bgR, bgG, bgB] = augmentation.background ?? options.background;
  const boxArea = factor * factor;
  const sampler = resamples(augmentation) ? bilinearSampler(source, augmentation) : pixelSampler(source, augmentation);
  const jitter = jittersColour(augmentation) ? colourJitter(augmentation) : undefined;
  const sum = new Float64Array(4); // premultiplied r, g, b and alpha over one box
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      sum.fill(0);
      for (let dy = 0; dy < factor; dy++) {
        for (let dx = 0; dx < factor; dx++) sampler(ox * factor + dx, oy * factor + dy, sum);
      }
      let r = sum[0]! / boxArea, g = sum[1]! / boxArea, b = sum[2]! / boxArea;
      const a = sum[3]! / boxArea;
      if (jitter !== undefined && a > 0) {
        const c = jitter(r / a, g / a, b / a, ((ox + 0.5) / size) * 2 - 1, ((oy + 0.5) / size) * 2 - 1);
        r = c[0] * a;
        g = c[1] * a;
        b = c[2] * a;
      }
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

/** Adds premultiplied RGBA in [0, 1] of the source point behind output grid point (x, y) (source resolution) to `sum`. */
type Sampler = (x: number, y: number, sum: Float64Array) => void;

const INV255 = 1 / 255;

/** Flip and whole-pixel shift: output grid point (x, y) shows one source pixel, or nothing. */
function pixelSampler(source: RgbaImage, augmentation: Augmentation): Sampler {
  const { width, height, data } = source;
  const { flip, shiftX, shiftY } = augmentation;
  return (x, y, sum) => {
    const sy = y - shiftY;
    const shifted = x - shiftX;
    if (sy < 0 || sy >= height || shifted < 0 || shifted >= width) return;
    const sx = flip ? width - 1 - shifted : shifted;
    addPixel(data, 4 * (sy * width + sx), 1, sum);
  };
}

/**
 * Zoom and rotation about the image centre, then shift, then flip (of the source): the output point's centre is
 * mapped back into the source and sampled bilinearly between pixel centres; outside the source is transparent.
 */
function bilinearSampler(source: RgbaImage, augmentation: Augmentation): Sampler {
  const { width, height, data } = source;
  const { flip, shiftX, shiftY, scale, rotation } = augmentation;
  const cx = width / 2, cy = height / 2;
  const cos = Math.cos(rotation) / scale, sin = Math.sin(rotation) / scale;
  return (x, y, sum) => {
    // Inverse map: undo the shift, then rotate by -rotation and divide by scale about the centre (y points down, so
    // a positive rotation turns the picture counter-clockwise on screen).
    const px = x + 0.5 - shiftX - cx, py = y + 0.5 - shiftY - cy;
    let u = cos * px - sin * py + cx;
    const v = sin * px + cos * py + cy;
    if (flip) u = width - u;
    const fx = u - 0.5, fy = v - 0.5; // in pixel-centre coordinates
    const x0 = Math.floor(fx), y0 = Math.floor(fy);
    const tx = fx - x0, ty = fy - y0;
    for (let j = 0; j < 2; j++) {
      const sy = y0 + j;
      if (sy < 0 || sy >= height) continue;
      const wy = j === 0 ? 1 - ty : ty;
      for (let i = 0; i < 2; i++) {
        const sx = x0 + i;
        if (sx < 0 || sx >= width) continue;
        const w = wy * (i === 0 ? 1 - tx : tx);
        if (w > 0) addPixel(data, 4 * (sy * width + sx), w, sum);
      }
    }
  };
}

function addPixel(data: Uint8Array, s: number, weight: number, sum: Float64Array): void {
  const alpha = data[s + 3]! * INV255 * weight;
  sum[0] = sum[0]! + data[s]! * INV255 * alpha;
  sum[1] = sum[1]! + data[s + 1]! * INV255 * alpha;
  sum[2] = sum[2]! + data[s + 2]! * INV255 * alpha;
  sum[3] = sum[3]! + alpha;
}

/** Straight colour → jittered straight colour in [0, 1] at position (px, py) ∈ [-1, 1]² (see `ColourJitter`). */
function colourJitter(augmentation: Augmentation): (r: number, g: number, b: number, px: number, py: number) => [number, number, number] {
  const { brightness, contrast, saturation, shadingX, shadingY } = augmentation;
  const clamp = (value: number) => Math.min(1, Math.max(0, value));
  return (r, g, b, px, py) => {
    const light = brightness * (1 + shadingX * px + shadingY * py);
    r *= light;
    g *= light;
    b *= light;
    const luma = 0.299 * r + 0.587 * g + 0.114 * b;
    const adjust = (c: number) => clamp(0.5 + contrast * (luma + saturation * (c - luma) - 0.5));
    return [adjust(r), adjust(g), adjust(b)];
  };
}
