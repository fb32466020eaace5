/**
 * npm run export -w @proj/training -- <decoder|upsampler|prior> [...]
 *
 * Writes the EMA weights of a run's training checkpoint (runs/<kind>/checkpoint.safetensors) as its shipped model
 * file (F16, with the steps trained), as the train:* scripts do when a run completes: to ship a run stopped early.
 */
import { readFileSync } from "node:fs";
import { modelFromTrainingCheckpoint } from "@proj/unclip";
import { parseSafetensors } from "@proj/clip";
import { chooseBackend, MODEL_FILES, runPaths, shipModel } from "../src/run.js";

const kinds = process.argv.slice(2);
const known = ["decoder", "upsampler", "prior"] as const;
if (kinds.length === 0 || kinds.some((kind) => !(known as readonly string[]).includes(kind))) {
  console.error(`usage: npm run export -w @proj/training -- <${known.join("|")}> [...]`);
  process.exit(2);
}
await chooseBackend("wasm");
for (const kind of kinds as (typeof known)[number][]) {
  const path = runPaths(kind).checkpoint;
  const file = parseSafetensors(new Uint8Array(readFileSync(path)));
  const model = modelFromTrainingCheckpoint(file);
  shipModel(kind, model, file.metadata.step ?? "");
  model.dispose();
  console.log(`${kind}: EMA weights of step ${file.metadata.step} (${path}) → ${MODEL_FILES[kind]}`);
}
