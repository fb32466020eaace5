/**
 * npm run recommend -- --guidance 2 [--decoder packages/unclip/models/decoder.safetensors]
 *
 * Records the decoder guidance scale that `npm run eval` found best (its `--guidance` sweep) in the model file's
 * `__metadata__.sampling`, so that `sample()`, the pipeline, the CLI and the web example use it when the caller
 * gives none. The weights stay as they are: the file is rewritten with the same F16 tensors (checked byte for byte)
 * and the same other metadata.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseSafetensors } from "@proj/clip";
import { UNet } from "@proj/unclip";
import { chooseBackend, fromStart, MODEL_FILES, writeAtomically } from "../src/run.js";

const { values } = parseArgs({
  options: {
    decoder: { type: "string", default: MODEL_FILES.decoder },
    guidance: { type: "string" },
  },
});
const guidance = Number(values.guidance);
if (values.guidance === undefined || !Number.isFinite(guidance) || guidance < 0) {
  throw new RangeError(`--guidance must be a number ≥ 0 (the scale to recommend), got ${JSON.stringify(values.guidance)}`);
}
const path = fromStart(values.decoder!);
await chooseBackend("wasm");
const before = parseSafetensors(new Uint8Array(readFileSync(path)));
const decoder = UNet.fromSafetensors(before);
decoder.samplingDefaults = { ...decoder.samplingDefaults, guidanceScale: guidance };
const { format: _format, config: _config, sampling: _sampling, ...metadata } = before.metadata;
const bytes = decoder.toSafetensors({ dtype: "F16", metadata });
decoder.dispose();

// The same tensors, bit for bit, before anything is written.
const after = parseSafetensors(bytes);
for (const [key, t] of before.tensors) {
  const u = after.tensors.get(key);
  const same = u !== undefined && t.dtype === u.dtype && t.shape.join() === u.shape.join() && Buffer.from(t.bytes).equals(Buffer.from(u.bytes));
  if (!same) throw new Error(`${key} would change: not writing ${path}`);
}
writeAtomically(path, bytes);
console.log(`${path}: __metadata__.sampling = ${after.metadata.sampling} (weights unchanged; other metadata kept: ${Object.keys(metadata).join(", ") || "none"})`);
