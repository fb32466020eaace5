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

  it("uses the augmentation's background where it draws one", () => {
    const out = render(tinyImage(), { ...NO_AUGMENTATION, background: [0, 0, 0.5] }, 4, "rgb");
    expect([...out.subarray(3, 6)]).toEqual([0, 0, 0.5]);
  });
});
