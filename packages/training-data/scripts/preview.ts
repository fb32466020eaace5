/**
 * Writes one batch as a PNG grid and prints its captions (row-major, matching the grid), to eyeball images against
 * captions.
 *
 *   npm run preview -w @proj/training-data -- [--source emoji|openclipart] [--split train] [--seed 0] [--batch 32] [--size 64] [--augment]
 *                                             [--canonical] [--styles apple,facebook] [--columns 8] [--scale 1]
 *                                             [--out preview/batch.png]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  createClipartDataset,
  createEmojiDataset,
  encodePng8,
  type ClipartSplitName,
  type EmojiStyle,
  type SplitName,
} from "../src/index.js";

const { values } = parseArgs({
  options: {
    source: { type: "string", default: "emoji" },
    split: { type: "string", default: "train" },
    seed: { type: "string", default: "0" },
    batch: { type: "string", default: "32" },
    size: { type: "string", default: "64" },
    columns: { type: "string", default: "8" },
    scale: { type: "string", default: "1" },
    augment: { type: "boolean", default: false },
    canonical: { type: "boolean", default: false },
    styles: { type: "string" },
    out: { type: "string", default: "preview/batch.png" },
  },
});

const dataset =
  values.source === "openclipart"
    ? await createClipartDataset({ split: values.split as ClipartSplitName })
    : await createEmojiDataset({
        split: values.split as SplitName,
        ...(values.styles === undefined ? {} : { styles: values.styles.split(",") as EmojiStyle[] }),
      });
const iterator = dataset.batches({
  batchSize: Number(values.batch),
  seed: Number(values.seed),
  size: Number(values.size),
  augment: values.augment,
  captions: values.canonical ? "canonical" : "sampled",
});
const { value: batch } = await iterator.next();
if (batch === undefined) throw new Error("preview: empty split");

// Grid of B tiles, each scaled up `scale` times (nearest), with a 2 px gutter, RGB 8-bit.
const [count, size] = batch.shape;
const scale = Number(values.scale);
const tile = size * scale;
const columns = Math.min(Number(values.columns), count);
const rows = Math.ceil(count / columns);
const gutter = 2;
const width = columns * (tile + gutter) + gutter;
const height = rows * (tile + gutter) + gutter;
const grid = new Uint8Array(width * height * 3).fill(96);
for (let i = 0; i < count; i++) {
  const x0 = gutter + (i % columns) * (tile + gutter);
  const y0 = gutter + Math.floor(i / columns) * (tile + gutter);
  for (let y = 0; y < tile; y++) {
    for (let x = 0; x < tile; x++) {
      const source = ((i * size + Math.floor(y / scale)) * size + Math.floor(x / scale)) * 3;
      for (let c = 0; c < 3; c++) grid[((y0 + y) * width + x0 + x) * 3 + c] = Math.round(batch.images[source + c]! * 255);
    }
  }
}
const out = resolve(values.out);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, encodePng8(grid, width, height, 3));

console.log(`${dataset.split}: ${dataset.examples.length} images; batch ${batch.step} of epoch ${batch.epoch} → ${out}`);
for (let i = 0; i < count; i++) {
  const row = Math.floor(i / columns);
  const column = i % columns;
  const flip = batch.flipped[i] ? " (flipped)" : "";
  console.log(`[${row},${column}] ${batch.styles[i]!.padEnd(8)} #${batch.conceptIds[i]} ${batch.captions[i]}${flip}`);
}
