import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { takeInModelLayout } from "./clip-model.js";
import { ModifiedResNet, type ModifiedResNetConfig, type ModifiedResNetIntermediates } from "./modified-resnet.js";
import { parseSafetensors, toFloat32, type SafetensorsFile } from "./safetensors.js";
import { CheckpointError, CheckpointWeights } from "./weights.js";

// Fixtures from OpenAI's reference CLIP (random weights, seed 0); see the fixture README, section resnet/.
const FIXTURE_DIR = fileURLToPath(new URL("./__fixtures__/clip-reference/resnet/", import.meta.url));
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(FIXTURE_DIR + name));

interface ClipConfigJson {
  embed_dim: number;
  image_resolution: number;
  vision_layers: number[];
  vision_width: number;
}

/** The README's tolerance: float32 vs float64 in the reference is ~1e-6, so 1e-4 relative is comfortable. */
const TOLERANCE = 1e-4;
const BACKENDS = ["cpu", "wasm"] as const; // webgpu: not available under Node; not run here.

const json = JSON.parse(readFileSync(FIXTURE_DIR + "config.json", "utf8")) as ClipConfigJson;
const [l1, l2, l3, l4] = json.vision_layers;
const config: ModifiedResNetConfig = {
  layers: [l1!, l2!, l3!, l4!],
  width: json.vision_width,
  outputDim: json.embed_dim,
  heads: (json.vision_width * 32) / 64, // as the reference derives it
  inputResolution: json.image_resolution,
};

let checkpoint: SafetensorsFile;
let inputs: SafetensorsFile;
let outputs: SafetensorsFile;

function fixtureTensor(file: SafetensorsFile, key: string): { data: Float32Array; shape: number[] } {
  const t = file.tensors.get(key);
  if (t === undefined) throw new Error(`fixture tensor ${key} missing`);
  return { data: toFloat32(t), shape: [...t.shape] };
}

/** NCHW fixture tensor → NHWC tf tensor. */
function nhwc(file: SafetensorsFile, key: string): tf.Tensor4D {
  const { data, shape } = fixtureTensor(file, key);
  return tf.tidy(() => tf.transpose(tf.tensor4d(data, shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** ‖ours − ref‖ / ‖ref‖; `ours` NHWC when `nchw` is set (then compared in NCHW). */
function relativeError(ours: tf.Tensor, reference: { data: Float32Array; shape: number[] }, nchw = false): number {
  const aligned = nchw ? tf.transpose(ours, [0, 3, 1, 2]) : ours;
  expect(aligned.shape).toEqual(reference.shape);
  const got = aligned.dataSync() as Float32Array;
  if (aligned !== ours) aligned.dispose();
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < reference.data.length; i++) {
    const r = reference.data[i]!;
    diff += (got[i]! - r) ** 2;
    norm += r ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** Builds the encoder from raw checkpoint `take`, through the loader's layout table (`CHECKPOINT_TRANSFORMS`). */
function load(take: CheckpointWeights["take"], overrides: Partial<ModifiedResNetConfig> = {}): ModifiedResNet {
  return ModifiedResNet.fromWeights(takeInModelLayout(take), { ...config, ...overrides });
}

const visualOnly = (k: string): boolean => !k.startsWith("visual.") || k.endsWith("num_batches_tracked");

beforeAll(() => {
  checkpoint = parseSafetensors(read("model.safetensors"));
  inputs = parseSafetensors(read("inputs.safetensors"));
  outputs = parseSafetensors(read("outputs.safetensors"));
});

describe.each(BACKENDS)("ModifiedResNet on %s", (backend) => {
  let model: ModifiedResNet;

  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const weights = new CheckpointWeights(checkpoint, visualOnly);
    model = load(weights.take);
    weights.finish(); // every visual key used, every shape as expected
  });

  afterAll(() => {
    model.dispose();
  });

  it.each([
    ["images", "image_features"],
    ["preprocessed_images", "image_features_preprocessed"],
  ])("matches the reference on %s (relative error ≤ 1e-4)", (inputKey, outputKey) => {
    const images = nhwc(inputs, inputKey);
    const features = model.forward(images);
    const error = relativeError(features, fixtureTensor(outputs, outputKey));
    console.log(`[${backend}] ${outputKey}: relative error ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([images, features]);
  });

  it("matches the reference stem and layer activations", () => {
    const images = nhwc(inputs, "images");
    const result: ModifiedResNetIntermediates = model.forwardWithIntermediates(images);
    for (const name of ["stem", "layer1", "layer2", "layer3", "layer4"] as const) {
      const error = relativeError(result[name], fixtureTensor(outputs, `intermediates.visual.${name}`), true);
      console.log(`[${backend}] intermediates.visual.${name}: relative error ${error.toExponential(2)}`);
      expect(error, name).toBeLessThanOrEqual(TOLERANCE);
    }
    tf.dispose([images, ...Object.values(result)]);
  });

  it("leaves only its result behind, and dispose frees every weight", () => {
    const images = nhwc(inputs, "images");
    const before = tf.memory().numTensors;
    const features = model.forward(images);
    expect(tf.memory().numTensors).toBe(before + 1);
    features.dispose();
    images.dispose();

    const start = tf.memory().numTensors;
    const weights = new CheckpointWeights(checkpoint, visualOnly);
    const another = load(weights.take);
    expect(tf.memory().numTensors).toBeGreaterThan(start);
    another.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe("ModifiedResNet checks that can fail", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("the tolerance separates a wrong model: 8 attention heads instead of 4", () => {
    const weights = new CheckpointWeights(checkpoint, visualOnly);
    const wrong = load(weights.take, { heads: 8 });
    const images = nhwc(inputs, "images");
    const features = wrong.forward(images);
    expect(relativeError(features, fixtureTensor(outputs, "image_features"))).toBeGreaterThan(TOLERANCE);
    tf.dispose([images, features]);
    wrong.dispose();
  });

  it("the loader reports keys the model does not take", () => {
    const weights = new CheckpointWeights(checkpoint, (k) => k.endsWith("num_batches_tracked"));
    load(weights.take).dispose();
    expect(() => weights.finish()).toThrow(CheckpointError); // the text tower's keys are unused
  });

  it("the loader reports a wrong shape", () => {
    const weights = new CheckpointWeights(checkpoint, visualOnly);
    load(weights.take, { width: 16 }).dispose();
    expect(() => weights.finish()).toThrow(/shape mismatches/);
  });

  it("rejects images of the wrong size", () => {
    const weights = new CheckpointWeights(checkpoint, visualOnly);
    const model = load(weights.take);
    const images = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    expect(() => model.forward(images)).toThrow(RangeError);
    images.dispose();
    model.dispose();
  });
});
