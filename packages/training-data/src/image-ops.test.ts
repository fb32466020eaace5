import { encode } from "fast-png";
import { describe, expect, it } from "vitest";
import { NO_AUGMENTATION, type Augmentation } from "./augmentation.js";
import { decodePngToRgba, encodePng8, renderImage, type RgbaImage } from "./image-ops.js";

/** A 4×4 RGBA image: opaque red at (x=0, y=0), half-transparent green at (3, 1), transparent elsewhere. */
function tinyImage(): RgbaImage {
  const data = new Uint8Array(4 * 4 * 4);
  data.set([255, 0, 0, 255], 0);
  data.set([0, 255, 0, 128], 4 * (1 * 4 + 3));
  return { data, width: 4, height: 4 };
}

const white = [1, 1, 1] as const;

function render(image: RgbaImage, augmentation: Augmentation, size: number, format: "rgb" | "rgba"): Float32Array {
  const out = new Float32Array(size * size * (format === "rgb" ? 3 : 4));
  renderImage(image, augmentation, { size, format, background: white }, out, 0);
  return out;
}

describe("decodePngToRgba", () => {
  it("round-trips RGBA, expands gray+alpha, RGB and palettes", () => {
    const image = tinyImage();
    expect(decodePngToRgba(encodePng8(image.data, 4, 4, 4)).data).toEqual(image.data);
    const grayAlpha = encode({ width: 2, height: 1, channels: 2, depth: 8, data: new Uint8Array([10, 20, 30, 40]) });
    expect([...decodePngToRgba(grayAlpha).data]).toEqual([10, 10, 10, 20, 30, 30, 30, 40]);
    const rgb = encode({ width: 1, height: 1, channels: 3, depth: 8, data: new Uint8Array([1, 2, 3]) });
    expect([...decodePngToRgba(rgb).data]).toEqual([1, 2, 3, 255]);
    const indexed = encode({
      width: 2,
      height: 1,
      channels: 1,
      depth: 8,
      data: new Uint8Array([0, 1]),
      palette: [
        [9, 8, 7, 0],
        [1, 2, 3, 255],
      ],
    });
    expect([...decodePngToRgba(indexed).data]).toEqual([9, 8, 7, 0, 1, 2, 3, 255]);
  });
});

describe("renderImage", () => {
  it("composites straight alpha over the background", () => {
    const out = render(tinyImage(), NO_AUGMENTATION, 4, "rgb");
    expect([...out.subarray(0, 3)]).toEqual([1, 0, 0]); // opaque red
    expect([...out.subarray(3, 6)]).toEqual([1, 1, 1]); // transparent → white
    const green = out.subarray(3 * (1 * 4 + 3), 3 * (1 * 4 + 3) + 3);
    const alpha = 128 / 255;
    expect(green[0]).toBeCloseTo(1 - alpha, 6);
    expect(green[1]).toBeCloseTo(1, 6);
    expect(green[2]).toBeCloseTo(1 - alpha, 6);
  });

  it("keeps straight RGBA when asked", () => {
    const out = render(tinyImage(), NO_AUGMENTATION, 4, "rgba");
    expect([...out.subarray(0, 4)]).toEqual([1, 0, 0, 1]);
    const green = [...out.subarray(4 * 7, 4 * 8)];
    expect(green[1]).toBeCloseTo(1, 6);
    expect(green[3]).toBeCloseTo(128 / 255, 6);
  });

  it("flips, then shifts (revealed pixels are transparent)", () => {
    const flipped = render(tinyImage(), { ...NO_AUGMENTATION, flip: true }, 4, "rgba");
    expect([...flipped.subarray(4 * 3, 4 * 4)]).toEqual([1, 0, 0, 1]); // red moved to x = 3
    const shifted = render(tinyImage(), { ...NO_AUGMENTATION, shiftX: 1, shiftY: 2 }, 4, "rgba");
    expect([...shifted.subarray(4 * (2 * 4 + 1), 4 * (2 * 4 + 2))]).toEqual([1, 0, 0, 1]); // red at (1, 2)
    expect(shifted[3]).toBe(0); // (0, 0) revealed
    const both = render(tinyImage(), { ...NO_AUGMENTATION, flip: true, shiftX: -1, shiftY: 0 }, 4, "rgba");
    expect([...both.subarray(4 * 2, 4 * 3)]).toEqual([1, 0, 0, 1]); // red at x = 3 - 1
  });

  it("box-averages premultiplied colour when downsampling", () => {
    const rgb = render(tinyImage(), NO_AUGMENTATION, 2, "rgb");
    // Top-left 2×2 box: one red pixel, three transparent → 1/4 red over white.
    expect([...rgb.subarray(0, 3)]).toEqual([1, 0.75, 0.75]);
    const rgba = render(tinyImage(), NO_AUGMENTATION, 2, "rgba");
    expect([...rgba.subarray(0, 4)]).toEqual([1, 0, 0, 0.25]); // colour stays pure red, alpha 1/4
    expect(() => render(tinyImage(), NO_AUGMENTATION, 3, "rgb")).toThrow(/whole boxes/);
  });

  it("zooms about the centre with bilinear resampling", () => {
    // A 4×4 image whose 2×2 centre is opaque blue: zooming by 2 fills the whole image with it.
    const data = new Uint8Array(4 * 4 * 4);
    for (const [x, y] of [[1, 1], [2, 1], [1, 2], [2, 2]]) data.set([0, 0, 255, 255], 4 * (y! * 4 + x!));
    const image = { data, width: 4, height: 4 };
    const zoomed = render(image, { ...NO_AUGMENTATION, scale: 2 }, 4, "rgba");
    for (let i = 0; i < 16; i++) expect(zoomed[4 * i + 3]).toBeGreaterThan(0.5); // every pixel mostly covered (corners 0.75²)
    expect([...zoomed.subarray(4 * 5, 4 * 6)]).toEqual([0, 0, 1, 1]); // (1, 1) maps inside the blue square
    // Zooming out by 2 shrinks it to the central 1×1 area: the corners become transparent.
    const shrunk = render(image, { ...NO_AUGMENTATION, scale: 0.5 }, 4, "rgba");
    expect(shrunk[3]).toBe(0);
    expect(shrunk[4 * 15 + 3]).toBe(0);
    expect(shrunk[4 * 5 + 3]).toBeGreaterThan(0); // the centre keeps some blue
  });

  it("rotates counter-clockwise on screen, and a full turn resamples to the original", () => {
    const image = tinyImage();
    // A quarter turn counter-clockwise moves the red top-left pixel (0, 0) to the bottom-left (0, 3).
    const quarter = render(image, { ...NO_AUGMENTATION, rotation: Math.PI / 2 }, 4, "rgba");
    expect(quarter[4 * (3 * 4 + 0)]).toBeCloseTo(1, 5);
    expect(quarter[4 * (3 * 4 + 0) + 3]).toBeCloseTo(1, 5);
    expect(quarter[3]).toBeCloseTo(0, 5);
    // A full turn goes through the bilinear path and must reproduce the pixel path (flip and shift included).
    const plain = render(image, { ...NO_AUGMENTATION, flip: true, shiftX: 1 }, 2, "rgb");
    const turned = render(image, { ...NO_AUGMENTATION, flip: true, shiftX: 1, rotation: 2 * Math.PI }, 2, "rgb");
    for (let i = 0; i < plain.length; i++) expect(turned[i]).toBeCloseTo(plain[i]!, 6);
  });

  it("jitters colour without changing hue, before compositing", () => {
    const orange = { data: new Uint8Array(16), width: 2, height: 2 }; // opaque (204, 102, 51) everywhere
    for (let i = 0; i < 4; i++) orange.data.set([204, 102, 51, 255], 4 * i);
    const one = (augmentation: Augmentation) => [...render(orange, augmentation, 2, "rgb").subarray(0, 3)];
    const [r, g, b] = [0.8, 0.4, 0.2];
    const darker = one({ ...NO_AUGMENTATION, brightness: 0.5 });
    expect(darker[0]).toBeCloseTo(r / 2, 6);
    expect(darker[1]).toBeCloseTo(g / 2, 6);
    expect(darker[2]).toBeCloseTo(b / 2, 6);
    const luma = 0.299 * r + 0.587 * g + 0.114 * b;
    const grey = one({ ...NO_AUGMENTATION, saturation: 0 });
    for (const c of grey) expect(c).toBeCloseTo(luma, 6);
    const flat = one({ ...NO_AUGMENTATION, contrast: 0 });
    for (const c of flat) expect(c).toBeCloseTo(0.5, 6);
    const vivid = one({ ...NO_AUGMENTATION, saturation: 1.3 });
    expect(vivid[0]! > vivid[1]! && vivid[1]! > vivid[2]!).toBe(true); // same hue order, further from grey
    expect(vivid[0]! - vivid[2]!).toBeGreaterThan(r - b);
    // Shading along +x: the right column is lighter than the left one.
    const mid = new Uint8Array(16).fill(128);
    for (let i = 3; i < 16; i += 4) mid[i] = 255;
    const shaded = render({ width: 2, height: 2, data: mid }, { ...NO_AUGMENTATION, shadingX: 0.3 }, 2, "rgb");
    expect(shaded[3]).toBeGreaterThan(shaded[0]!);
    expect(shaded[0]! + shaded[3]!).toBeCloseTo(2 * (128 / 255), 6);
    // Transparent pixels keep the background; jitter never leaves [0, 1].
    const edge = render(tinyImage(), { ...NO_AUGMENTATION, brightness: 1.9, contrast: 1.9 }, 4, "rgb");
    for (const value of edge) expect(value >= 0 && value <= 1).toBe(true);
    expect([...edge.subarray(3, 6)]).toEqual([1, 1, 1]);
  });

  it("uses the augmentation's background where it draws one", () => {
    const out = render(tinyImage(), { ...NO_AUGMENTATION, background: [0, 0, 0.5] }, 4, "rgb");
    expect([...out.subarray(3, 6)]).toEqual([0, 0, 0.5]);
  });
});
