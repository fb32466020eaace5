/**
 * npm run preview [-- --out runs/preview.png --count 8 --split unseen-concept --steps 25 --guidance 3 --seed 0
 *                    --eta 0 --clip <file> --decoder <file> --upsampler <file|none> --prior <file|none>]
 *
 * A picture of what the models make, to look at (the eval's numbers do not show whether a person recognises an
 * emoji). Rows of one PNG, one column per held-out image (default: unseen concepts, Google style first):
 *   1. the image (64×64 source shrunk to the CLIP's 32×32, shown at 64×64)
 *   2. a decode of its CLIP image embedding (decoder, then upsampler when there is one)
 *   3. text-to-image of its canonical caption (prior → decoder → upsampler), when there is a prior
 * The captions are printed in column order. Model files default to the embedded ones; a training checkpoint
 * (runs/<name>/checkpoint.safetensors) is accepted too (its EMA weights), to look at a run while it goes.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { TRAINING_FORMAT, UNet, DiffusionPrior, createPipeline, interpolate, modelFromTrainingCheckpoint, textToImage, type Pipeline } from "@proj/unclip";
import { parseSafetensors } from "@proj/clip";
import { canonicalCaption, createEmojiDataset, encodePng8, type SplitName } from "@proj/training-data";
import { loadTrainedClip } from "../src/clip-embedder.js";
import { MODEL_FILES, chooseBackend, fromStart } from "../src/run.js";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "runs/preview.png" },
    count: { type: "string", default: "8" },
    split: { type: "string", default: "unseen-concept" },
    steps: { type: "string", default: "25" },
    guidance: { type: "string" },
    eta: { type: "string", default: "0" },
    seed: { type: "string", default: "0" },
    clip: { type: "string", default: MODEL_FILES.clip },
    decoder: { type: "string", default: MODEL_FILES.decoder },
    upsampler: { type: "string", default: MODEL_FILES.upsampler },
    prior: { type: "string", default: MODEL_FILES.prior },
    backend: { type: "string" },
  },
});
const count = Number(values.count);
const numInferenceSteps = Number(values.steps);
const seed = Number(values.seed);
const guidanceScale = values.guidance === undefined ? undefined : Number(values.guidance);
const eta = Number(values.eta);
const backend = await chooseBackend(values.backend);

/** A model file or a training checkpoint (EMA weights); "none" leaves it out. */
function load<T extends UNet | DiffusionPrior>(name: string, kind: string): T | undefined {
  if (name === "none") return undefined;
  const path = fromStart(name);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch {
    console.error(`no ${kind} at ${path}: going on without it`);
    return undefined;
  }
  const file = parseSafetensors(bytes);
  if (file.metadata.format === TRAINING_FORMAT) return modelFromTrainingCheckpoint(file) as T;
  return (kind === "prior" ? DiffusionPrior.fromSafetensors(file) : UNet.fromSafetensors(file)) as T;
}

const clip = await loadTrainedClip(fromStart(values.clip!));
const decoder = load<UNet>(values.decoder, "decoder");
if (decoder === undefined) process.exit(2);
const upsampler = load<UNet>(values.upsampler, "upsampler");
const prior = load<DiffusionPrior>(values.prior, "prior");
const pipeline: Pipeline = createPipeline({ clip, decoder, upsampler, prior });
console.error(`backend ${backend}; decoder ${values.decoder}; upsampler ${upsampler ? values.upsampler : "none"}; prior ${prior ? values.prior : "none"}`);

// 1. Held-out images, composited on white at 64×64 and at the CLIP's resolution.
const R = clip.config.imageResolution;
const dataset = await createEmojiDataset({ split: values.split as SplitName, skinTones: false });
const originals: Float32Array[] = [];
const small: Uint8Array[] = [];
const captions: string[] = [];
for await (const batch of dataset.batches({ batchSize: count, seed, shuffle: true, augment: false, captions: "canonical", size: R })) {
  for (let i = 0; i < Math.min(count, batch.shape[0]); i++) {
    const pixels = batch.images.subarray(i * R * R * 3, (i + 1) * R * R * 3);
    originals.push(Float32Array.from(pixels));
    small.push(Uint8Array.from(pixels, (v) => Math.round(v * 255)));
    captions.push(canonicalCaption(dataset.catalog.concepts[batch.conceptIds[i]!]!));
  }
  break;
}

// 2. Rows of images [N, S, S, 3] in [0, 1].
const S = upsampler?.config.imageSize ?? decoder.config.imageSize;
const rows: tf.Tensor4D[] = [];
rows.push(tf.tidy(() => tf.image.resizeNearestNeighbor(tf.tensor4d(Float32Array.from(originals.flatMap((o) => [...o])), [originals.length, R, R, 3]), [S, S])));
const reconstructions: tf.Tensor4D[] = [];
for (const [i, image] of small.entries()) {
  // A decode of the image's own embedding (weight 0 of a blend with itself: one frame, the seed's noise).
  const input = { data: image, width: R, height: R, channels: 3 as const };
  reconstructions.push(await interpolate(pipeline, input, input, { weights: [0], numInferenceSteps, guidanceScale, eta, seed: seed + i }));
  process.stderr.write(`\rreconstructions ${i + 1}/${small.length}`);
}
rows.push(tf.concat(reconstructions, 0));
tf.dispose(reconstructions);
if (prior !== undefined) {
  const generated: tf.Tensor4D[] = [];
  for (const [i, caption] of captions.entries()) {
    generated.push(await textToImage(pipeline, caption, { numInferenceSteps, guidanceScale, eta, seed: seed + i }));
    process.stderr.write(`\rtext-to-image ${i + 1}/${captions.length}  `);
  }
  rows.push(tf.concat(generated, 0));
  tf.dispose(generated);
}
process.stderr.write("\n");

// 3. One PNG: rows × columns of S×S tiles with a 2-pixel white gap.
const gap = 2;
const n = captions.length;
const width = n * S + (n + 1) * gap;
const height = rows.length * S + (rows.length + 1) * gap;
const canvas = new Uint8Array(width * height * 3).fill(255);
for (const [r, row] of rows.entries()) {
  const data = await row.data();
  for (let c = 0; c < n; c++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let k = 0; k < 3; k++) {
          const value = data[((c * S + y) * S + x) * 3 + k]!;
          canvas[((gap + r * (S + gap) + y) * width + gap + c * (S + gap) + x) * 3 + k] = Math.round(Math.min(1, Math.max(0, value)) * 255);
        }
      }
    }
  }
}
tf.dispose(rows);
const out = fromStart(values.out!);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, encodePng8(canvas, width, height, 3));
console.log(`wrote ${out}: rows = original, reconstruction${prior ? ", text-to-image" : ""}; columns:\n${captions.map((c, i) => `  ${i + 1}. ${c}`).join("\n")}`);
