import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { parseSafetensors } from "@proj/clip";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODEL_URLS, loadPipeline } from "./default-models.js";
import { createPipeline } from "./pipeline.js";
import { TINY_DECODER, UNet } from "./index.js";
import { TINY_PIPELINE_CLIP, writeTinyModels } from "./test-models.js";

describe("loadPipeline: a folder, per-model sources, the embedded defaults", { timeout: 60_000 }, () => {
  let dir: string;

  beforeAll(async () => {
    await tf.setBackend("wasm");
    dir = mkdtempSync(join(tmpdir(), "unclip-models-"));
    await writeTinyModels(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads the four models of a folder (path or file URL), reports progress, and dispose() frees every tensor", async () => {
    const before = tf.memory().numTensors;
    const heard: string[] = [];
    const pipeline = await loadPipeline(dir, { onProgress: ({ model, loaded, total }) => void heard.push(`${model} ${loaded}/${total}`) });
    expect(heard).toEqual(["clip 1/4", "prior 2/4", "decoder 3/4", "upsampler 4/4"]);
    expect(pipeline.clip.dim).toBe(TINY_PIPELINE_CLIP.embedDim);
    expect(pipeline.clipModel.config.embedDim).toBe(TINY_PIPELINE_CLIP.embedDim);
    expect(pipeline.decoder.config.imageSize).toBe(TINY_DECODER.imageSize);
    expect(pipeline.upsampler?.config.lowResSize).toBe(TINY_DECODER.imageSize);
    expect(pipeline.prior).toBeDefined();
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    pipeline.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const viaUrl = await loadPipeline(pathToFileURL(dir));
    expect(viaUrl.decoder.parameterCount()).toBe(pipeline.decoder.parameterCount());
    viaUrl.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("per-model sources: bytes, paths, and null leaves an optional model out", async () => {
    const before = tf.memory().numTensors;
    const pipeline = await loadPipeline({
      clip: new Uint8Array(readFileSync(join(dir, "clip.safetensors"))),
      decoder: join(dir, "decoder.safetensors"),
      prior: null,
      upsampler: null,
    });
    expect(pipeline.prior).toBeUndefined();
    expect(pipeline.upsampler).toBeUndefined();
    pipeline.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("names the model and the path of a missing or broken file, and leaks nothing when models do not fit", async () => {
    const before = tf.memory().numTensors;
    const missing = join(dir, "nowhere");
    await expect(loadPipeline(missing)).rejects.toThrow(`loadPipeline: cannot read the clip model from ${missing}/clip.safetensors`);
    const broken = mkdtempSync(join(tmpdir(), "unclip-broken-"));
    try {
      for (const name of ["clip", "prior", "upsampler"]) copyFileSync(join(dir, `${name}.safetensors`), join(broken, `${name}.safetensors`));
      writeFileSync(join(broken, "decoder.safetensors"), "not a safetensors file");
      await expect(loadPipeline(broken)).rejects.toThrow(/cannot read the decoder model from .*decoder\.safetensors/);
      // A decoder for another CLIP width: built, then refused by createPipeline's checks; every model freed.
      const wide = new UNet({ ...TINY_DECODER, clipEmbedDim: TINY_PIPELINE_CLIP.embedDim * 2 });
      writeFileSync(join(broken, "decoder.safetensors"), wide.toSafetensors());
      wide.dispose();
      await expect(loadPipeline(broken)).rejects.toThrow(/the decoder expects CLIP embeddings of width 64, the CLIP makes 32/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("createPipeline() and loadPipeline() with no argument read the embedded defaults inside the packages", async () => {
    expect(DEFAULT_MODEL_URLS.decoder.href).toMatch(/\/packages\/unclip\/models\/decoder\.safetensors$/);
    expect(DEFAULT_MODEL_URLS.clip.href).toMatch(/\/packages\/clip\/models\/clip\.safetensors$/);
    const before = tf.memory().numTensors;
    const pipeline = await createPipeline();
    // The shipped models: a 32×32 decoder, a 2× upsampler to 64×64 and a prior, all on the CLIP's embedding width.
    expect(pipeline.decoder.config.imageSize).toBe(32);
    expect(pipeline.upsampler?.config.imageSize).toBe(64);
    expect(pipeline.prior?.config.clipEmbedDim).toBe(pipeline.clip.dim);
    expect(pipeline.clipModel.config.imageResolution).toBe(32);
    pipeline.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the four embedded model files hold F16 weights, 25 MB or less together (issue #8's budget)", () => {
    let total = 0;
    for (const [name, url] of Object.entries(DEFAULT_MODEL_URLS)) {
      const bytes = new Uint8Array(readFileSync(url));
      total += bytes.byteLength;
      // Every weight array in F16 (a scalar such as CLIP's logit_scale may stay F32).
      const arrays = [...parseSafetensors(bytes).tensors.values()].filter((t) => t.shape.length > 0);
      expect(arrays.length, `${name}'s tensors`).toBeGreaterThan(0);
      expect(new Set(arrays.map((t) => t.dtype)), `${name}'s weight arrays`).toEqual(new Set(["F16"]));
    }
    expect(total).toBeLessThanOrEqual(25_000_000);
  });
});
