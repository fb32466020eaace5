/**
 * npm run eval:clip [-- --model packages/clip/models/clip.safetensors --limit 2000]
 *
 * Zero-shot accuracy of a CLIP on the two held-out evaluations of the emoji data (packages/training-data README):
 *   unseen style    Apple and Facebook art (never trained on), classified among every training concept (1702 labels)
 *   unseen concept  the ~10% of emoji names held out of training, in all five styles, among those held-out names
 * Labels are the canonical captions ("a red apple", "flag of France"); images are composited on white, 32×32, and
 * skin-tone variants count as their base concept; concepts with the same caption share one label. Prints top-1 / top-5 accuracy beside chance, and writes
 * runs/clip/eval.json.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { CLIP_MEAN, CLIP_STD, createZeroShotClassifier } from "@proj/clip";
import { canonicalCaption, createEmojiDataset, type SplitName } from "@proj/training-data";
import { loadTrainedClip } from "../src/clip-embedder.js";
import { MODEL_FILES, chooseBackend, fromStart, runPaths } from "../src/run.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: MODEL_FILES.clip },
    limit: { type: "string", default: "2000" },
    backend: { type: "string" },
  },
});
const limit = Number(values.limit);
const backend = await chooseBackend(values.backend);
const clip = await loadTrainedClip(fromStart(values.model)); // a relative --model: from where npm was started
const R = clip.config.imageResolution;
const results: Record<string, { images: number; labels: number; top1: number; top5: number; chance1: number }> = {};

for (const [name, split] of [["unseen style", "unseen-style"], ["unseen concept", "unseen-concept"]] as [string, SplitName][]) {
  const dataset = await createEmojiDataset({ split });
  // One label per concept of the split, in id order.
  const conceptIds = [...new Set(dataset.examples.map((e) => e.concept.id))].sort((a, b) => a - b);
  // Concepts that share a caption ("a man in tuxedo") share a label: predicting it is right for any of them.
  const labels = [...new Set(conceptIds.map((id) => canonicalCaption(dataset.catalog.concepts[id]!)))];
  const classifier = await createZeroShotClassifier(clip, labels, { templates: ["{}"] });
  let seen = 0, top1 = 0, top5 = 0;
  for await (const batch of dataset.batches({ batchSize: 64, seed: 1, shuffle: true, augment: false, captions: "canonical", size: R })) {
    const pixels = tf.tidy(() => tf.div(tf.sub(tf.tensor4d(batch.images, [...batch.shape] as [number, number, number, number]), tf.tensor1d([...CLIP_MEAN])), tf.tensor1d([...CLIP_STD])) as tf.Tensor4D);
    const scores = await classifier.classify(pixels, { topK: 5 });
    pixels.dispose();
    scores.forEach((ranked, i) => {
      const truth = canonicalCaption(dataset.catalog.concepts[batch.conceptIds[i]!]!);
      if (ranked[0]?.label === truth) top1++;
      if (ranked.some((s) => s.label === truth)) top5++;
    });
    seen += scores.length;
    if (seen >= limit) break;
  }
  classifier.dispose();
  results[name] = { images: seen, labels: labels.length, top1: top1 / seen, top5: top5 / seen, chance1: 1 / labels.length };
}
clip.dispose();

console.log(`\nzero-shot on the held-out emoji (${values.model}, ${backend})\n`);
console.log("| evaluation | images | labels | top-1 | top-5 | chance (top-1) |\n| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${r.images} | ${r.labels} | ${(100 * r.top1).toFixed(1)}% | ${(100 * r.top5).toFixed(1)}% | ${(100 * r.chance1).toFixed(2)}% |`);
}
writeFileSync(join(runPaths("clip").dir, "eval.json"), JSON.stringify({ model: values.model, results }, null, 2));
