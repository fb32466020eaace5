/**
 * npm run snapshot:clip [-- --out packages/clip/models/clip.safetensors]
 *
 * Writes the CLIP of the current training checkpoint (runs/clip/checkpoint.safetensors) as a model file with its
 * tokenizer (F16), e.g. to evaluate it mid-run or to start the prior and decoder before CLIP training has finished.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { clipFromSafetensors, parseSafetensors, saveClip, weightsOfTrainingCheckpoint } from "@proj/clip";
import { ClipTokenizer } from "@proj/tokenizer";
import { MODEL_FILES, chooseBackend, runPaths, writeAtomically } from "../src/run.js";

const { values } = parseArgs({ options: { out: { type: "string", default: MODEL_FILES.clip } } });
await chooseBackend("wasm");
const paths = runPaths("clip");
const file = parseSafetensors(new Uint8Array(readFileSync(paths.checkpoint)));
const tokenizer = ClipTokenizer.fromFiles({ bpe: readFileSync(join(paths.dir, "vocab.bpe"), "utf8") });
const model = clipFromSafetensors(weightsOfTrainingCheckpoint(file), { tokenizer });
writeAtomically(values.out, await saveClip(model, { dtype: "F16" }));
model.dispose();
console.log(`CLIP of ${paths.checkpoint} → ${values.out}`);
