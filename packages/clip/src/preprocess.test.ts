import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CLIP_MEAN,
  CLIP_STD,
  centerCropOffsets,
  clipResizeCrop,
  clipResizedSize,
  decodeImage,
  preprocess,
  resizeBicubic,
  type RgbImage,
} from "./preprocess.js";
import { parseSafetensors, toFloat32, type SafetensorsFile } from "./safetensors.js";

// Fixtures from the reference (clip.clip._transform with torchvision 0.14 / Pillow 9.4); see the fixture README.
const FIXTURE_DIR = fileURLToPath(new URL("./__fixtures__/clip-reference/preprocess/", import.meta.url));
const fixturePath = (name: string): string => FIXTURE_DIR + name;

interface PerSize {
  resized_width: number;
  resized_height: number;
  crop_left: number;
  crop_top: number;
}
interface FixtureJson {
  mean: number[];
  std: number[];
  sizes: number[];
  images: { file: string; width: number; height: number; per_size: Record<string, PerSize> }[];
}

const spec = JSON.parse(readFileSync(fixturePath("preprocess.json"), "utf8")) as FixtureJson;
let reference: SafetensorsFile;
let images: RgbImage[];

beforeAll(async () => {
  await tf.setBackend("cpu");
  reference = parseSafetensors(new Uint8Array(readFileSync(fixturePath("preprocess.safetensors"))));
  images = spec.images.map((entry) => decodeImage(new Uint8Array(readFileSync(fixturePath(entry.file)))));
});

function referenceTensor(name: string) {
  const t = reference.tensors.get(name);
  if (t === undefined) throw new Error(`fixture tensor ${name} missing`);
  return t;
}

function imageAt(i: number): RgbImage {
  const image = images[i];
  if (image === undefined) throw new Error(`no image ${i}`);
  return image;
}

function countDifferentBytes(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
  return diff;
}

describe("constants", () => {
  it("mean and std equal preprocess.json", () => {
    expect([...CLIP_MEAN]).toEqual(spec.mean);
    expect([...CLIP_STD]).toEqual(spec.std);
  });
});

describe("decodeImage", () => {
  it("decodes the fixture PNGs to the sizes in preprocess.json", () => {
    spec.images.forEach((entry, i) => {
      const image = imageAt(i);
      expect([image.width, image.height, image.channels]).toEqual([entry.width, entry.height, 3]);
      expect(image.data.length).toBe(entry.width * entry.height * 3);
    });
  });

  it("round-trips a JPEG (jpeg-js encoder) to the right size and approximate pixels", () => {
    const { width, height, data } = imageAt(1);
    const rgba = new Uint8Array(width * height * 4);
    for (let p = 0; p < width * height; p++) {
      rgba.set(data.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = 255;
    }
    const jpeg = new Uint8Array(encodeJpeg({ data: rgba, width, height }, 95).data);
    const decoded = decodeImage(jpeg);
    expect([decoded.width, decoded.height, decoded.channels]).toEqual([width, height, 3]);
    let sumAbs = 0;
    for (let i = 0; i < data.length; i++) sumAbs += Math.abs((decoded.data[i] ?? 0) - (data[i] ?? 0));
    const meanAbs = sumAbs / data.length;
    expect(meanAbs).toBeGreaterThan(0); // it really went through lossy JPEG
    expect(meanAbs).toBeLessThan(12); // the fixture has noise and 1-px checkerboards, so this is loose
  });

  it("decodes gray, gray+alpha, RGBA and 16-bit PNGs", () => {
    const gray = decodeImage(
      encodePng({ width: 2, height: 1, data: new Uint8Array([10, 200]), channels: 1, depth: 8 }),
    );
    expect(gray.channels).toBe(3);
    expect(Array.from(gray.data)).toEqual([10, 10, 10, 200, 200, 200]);
    const grayAlpha = decodeImage(
      encodePng({ width: 1, height: 1, data: new Uint8Array([7, 128]), channels: 2, depth: 8 }),
    );
    expect(Array.from(grayAlpha.data)).toEqual([7, 7, 7, 128]);
    const rgba = decodeImage(
      encodePng({ width: 1, height: 1, data: new Uint8Array([1, 2, 3, 4]), channels: 4, depth: 8 }),
    );
    expect(rgba.channels).toBe(4);
    expect(Array.from(rgba.data)).toEqual([1, 2, 3, 4]);
    const deep = decodeImage(
      encodePng({ width: 1, height: 1, data: new Uint16Array([0x1234, 0xabcd, 0xffff]), channels: 3, depth: 16 }),
    );
    expect(Array.from(deep.data)).toEqual([0x12, 0xab, 0xff]);
  });

  it("rejects unknown formats with a clear error", () => {
    const gif = new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61]);
    expect(() => decodeImage(gif)).toThrow(/unsupported image format/);
    expect(() => decodeImage(new Uint8Array(0))).toThrow(/unsupported image format/);
  });
});

describe("resize + crop geometry", () => {
  it("resized sizes and crop offsets equal preprocess.json", () => {
    for (const size of spec.sizes) {
      spec.images.forEach((entry) => {
        const expected = entry.per_size[String(size)];
        const resized = clipResizedSize(entry.width, entry.height, size);
        expect([resized.width, resized.height]).toEqual([expected?.resized_width, expected?.resized_height]);
        const { left, top } = centerCropOffsets(resized.width, resized.height, size);
        expect([left, top]).toEqual([expected?.crop_left, expected?.crop_top]);
      });
    }
  });

  it("rounds crop offsets half to even like Python", () => {
    expect(centerCropOffsets(33, 32, 32)).toEqual({ left: 0, top: 0 }); // round(0.5) = 0
    expect(centerCropOffsets(35, 32, 32)).toEqual({ left: 2, top: 0 }); // round(1.5) = 2
    expect(centerCropOffsets(37, 32, 32)).toEqual({ left: 2, top: 0 }); // round(2.5) = 2
  });
});

describe("resizeBicubic matches Pillow byte for byte", () => {
  for (const size of [224, 64, 32]) {
    for (const i of [0, 1, 2]) {
      it(`resized.${size}.${i}`, () => {
        const expected = referenceTensor(`resized.${size}.${i}`);
        expect(expected.dtype).toBe("U8");
        const [height, width, channels] = expected.shape;
        expect(channels).toBe(3);
        const ours = resizeBicubic(imageAt(i), width ?? 0, height ?? 0);
        expect([ours.width, ours.height, ours.channels]).toEqual([width, height, 3]);
        expect(countDifferentBytes(ours.data, expected.bytes)).toBe(0);
      });
    }
  }

  it("is a copy at the same size and is not the identity otherwise", () => {
    const image = imageAt(0);
    const same = resizeBicubic(image, image.width, image.height);
    expect(same.data).not.toBe(image.data);
    expect(countDifferentBytes(same.data, image.data)).toBe(0);
    const halved = resizeBicubic(image, 25, 18);
    expect(halved.data.length).toBe(25 * 18 * 3);
  });

  it("resamples RGBA premultiplied (fully transparent pixels do not bleed colour)", () => {
    // 4x1: opaque red, transparent green ×3. Pillow resizes RGBa, so green never leaks into the result.
    const data = new Uint8Array([255, 0, 0, 255, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0]);
    const out = resizeBicubic({ data, width: 4, height: 1, channels: 4 }, 2, 1);
    expect(out.data[1]).toBe(0); // first output pixel: no green
    expect(out.data[0]).toBe(255);
  });
});

describe("preprocess matches pixel_values (NCHW → NHWC)", () => {
  for (const size of [224, 64, 32]) {
    it(`pixel_values.${size}`, async () => {
      const bytes = spec.images.map((entry) => new Uint8Array(readFileSync(fixturePath(entry.file))));
      const out = await preprocess(bytes, { size });
      expect(out.shape).toEqual([3, size, size, 3]);
      expect(out.dtype).toBe("float32");
      const expected = tf.tidy(() =>
        tf.tensor4d(toFloat32(referenceTensor(`pixel_values.${size}`)), [3, 3, size, size]).transpose([0, 2, 3, 1]),
      );
      const maxAbs = tf.tidy(() => tf.max(tf.abs(tf.sub(out, expected))).dataSync()[0]);
      expect(maxAbs).toBeLessThanOrEqual(1e-5);
      tf.dispose([out, expected]);
    });
  }

  it("accepts a path, an ArrayBuffer, decoded pixels and RGBA pixels alike", async () => {
    const path = fixturePath(spec.images[0]?.file ?? "");
    const bytes = new Uint8Array(readFileSync(path));
    const image = imageAt(0);
    const rgba = new Uint8ClampedArray(image.width * image.height * 4);
    for (let p = 0; p < image.width * image.height; p++) {
      rgba.set(image.data.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = 255;
    }
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const { width, height } = image;
    const inputs = [path, buffer, { data: image.data, width, height }, { data: rgba, width, height }];
    const out = await preprocess(inputs, { size: 32 });
    const expected = tf.tidy(() =>
      tf
        .tensor4d(toFloat32(referenceTensor("pixel_values.32")), [3, 3, 32, 32])
        .transpose([0, 2, 3, 1])
        .slice([0], [1]),
    );
    for (let n = 0; n < inputs.length; n++) {
      const maxAbs = tf.tidy(() => tf.max(tf.abs(tf.sub(out.slice([n], [1]), expected))).dataSync()[0]);
      expect(maxAbs).toBeLessThanOrEqual(1e-5);
    }
    tf.dispose([out, expected]);
  });

  it("leaves exactly one new tensor (the result)", async () => {
    const before = tf.memory().numTensors;
    const out = await preprocess(imageAt(1), { size: 64 });
    expect(tf.memory().numTensors).toBe(before + 1);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("defaults to 224", async () => {
    const out = await preprocess(imageAt(0));
    expect(out.shape).toEqual([1, 224, 224, 3]);
    out.dispose();
  });
});

describe("errors", () => {
  const tiny: RgbImage = { data: new Uint8Array(12), width: 2, height: 2, channels: 3 };

  it("rejects an empty list", async () => {
    await expect(preprocess([])).rejects.toThrow(/empty image list/);
  });
  it("rejects bad sizes", async () => {
    await expect(preprocess(tiny, { size: 0 })).rejects.toThrow(/positive integer/);
    await expect(preprocess(tiny, { size: 2.5 })).rejects.toThrow(/positive integer/);
    expect(() => clipResizeCrop(tiny, -1)).toThrow(/positive integer/);
    expect(() => resizeBicubic(tiny, 0, 2)).toThrow(/positive integer/);
  });
  it("rejects zero-size images", async () => {
    await expect(preprocess({ data: new Uint8Array(0), width: 0, height: 5 })).rejects.toThrow(/zero-size/);
    const empty: RgbImage = { data: new Uint8Array(0), width: 0, height: 0, channels: 3 };
    expect(() => resizeBicubic(empty, 2, 2)).toThrow(/zero-size/);
  });
  it("rejects wrong channel counts", async () => {
    await expect(preprocess({ data: new Uint8Array(8), width: 2, height: 2 })).rejects.toThrow(/wrong channel count 2/);
    expect(() => resizeBicubic({ data: new Uint8Array(8), width: 2, height: 2, channels: 2 as 3 }, 1, 1)).toThrow(
      /wrong channel count/,
    );
  });
  it("rejects unsupported encoded formats and inputs", async () => {
    await expect(preprocess(new Uint8Array([1, 2, 3, 4]))).rejects.toThrow(/unsupported image format/);
    await expect(preprocess(42 as unknown as Uint8Array)).rejects.toThrow(/unsupported image input/);
  });
});
