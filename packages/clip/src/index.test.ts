import { describe, expect, it } from "vitest";
import * as api from "./index.js";

describe("@proj/clip public surface", () => {
  it("exports exactly these names (issue #5 in progress: I/O and preprocessing so far)", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "CLIP_MEAN",
        "CLIP_STD",
        "SafetensorsError",
        "centerCropOffsets",
        "clipResizeCrop",
        "clipResizedSize",
        "decodeImage",
        "parseSafetensors",
        "preprocess",
        "readSafetensors",
        "resizeBicubic",
        "serializeSafetensors",
        "toFloat32",
        "toInt32",
      ].sort(),
    );
  });
});
