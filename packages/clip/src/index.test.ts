import { describe, expect, it } from "vitest";
import * as api from "./index.js";

describe("@proj/clip public surface", () => {
  it("exports exactly these names", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "AttentionPool2d",
        "CHECKPOINT_TRANSFORMS",
        "CLIP_MEAN",
        "CLIP_STD",
        "CheckpointError",
        "CheckpointWeights",
        "ModifiedResNet",
        "RN101",
        "RN50",
        "RN50x16",
        "RN50x4",
        "RN50x64",
        "ResidualAttentionBlock",
        "SafetensorsError",
        "TextTransformer",
        "Transformer",
        "VIT_B_16",
        "VIT_B_32",
        "VIT_L_14",
        "VIT_L_14_336",
        "VisionTransformer",
        "centerCropOffsets",
        "clipConfigDifferences",
        "clipConfigFromJson",
        "clipConfigToJson",
        "clipFromSafetensors",
        "clipLogits",
        "clipResizeCrop",
        "clipResizedSize",
        "decodeImage",
        "encodeImage",
        "encodeText",
        "isVisionTransformerConfig",
        "loadClip",
        "parseSafetensors",
        "preprocess",
        "readSafetensors",
        "resizeBicubic",
        "serializeSafetensors",
        "toFloat32",
        "toInt32",
        "visionHeads",
      ].sort(),
    );
  });
});
