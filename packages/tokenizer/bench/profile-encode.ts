/**
 * A small driver to profile the built package's `encode` on the bench corpus (line by line), for `node --cpu-prof`:
 *
 *   npm run build -w @proj/tokenizer
 *   cd packages/tokenizer
 *   node --cpu-prof --cpu-prof-dir=bench/.bench-cache/prof --import tsx bench/profile-encode.ts [--mode warm|cold|tokenize] [--seconds 6]
 *   node --import tsx bench/profile-summary.ts bench/.bench-cache/prof --filter profiledLoop
 *
 * `warm`: one warm-up pass, then passes over the corpus with the word cache full (the bench's headline row).
 * `cold`: every pass on a fresh tokenizer (construction outside the loop being profiled, but in the profile).
 * `tokenize`: warm `tokenize(batch of 256, { truncate: true })`.
 * The work being measured runs inside `profiledLoop`, so `--filter profiledLoop` leaves out startup and setup.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { batches, loadBuiltPackage, loadCorpus, type ClipTokenizer } from "./lib.js";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "warm" },
    seconds: { type: "string", default: "6" },
    dist: { type: "string" },
  },
});
const mode = values.mode;
if (mode !== "warm" && mode !== "cold" && mode !== "tokenize") throw new RangeError(`--mode must be warm, cold or tokenize, got ${String(mode)}`);
const budgetMs = Number(values.seconds) * 1000;

const { api } = await loadBuiltPackage(values.dist);
const lines = loadCorpus().lines;
const lineBatches = batches(lines, 256);

function profiledLoop(tokenizer: ClipTokenizer): number {
  return runCorpus(tokenizer);
}

/** The warm-up runs the same work outside `profiledLoop`, so a `--filter profiledLoop` summary leaves it out. */
function warmUp(tokenizer: ClipTokenizer): number {
  return runCorpus(tokenizer);
}

function runCorpus(tokenizer: ClipTokenizer): number {
  let tokens = 0;
  if (mode === "tokenize") {
    for (const batch of lineBatches) tokens += tokenizer.tokenize(batch, { truncate: true }).length;
  } else {
    for (let i = 0; i < lines.length; i++) tokens += tokenizer.encode(lines[i]!).length;
  }
  return tokens;
}

let tokenizer = await api.ClipTokenizer.load();
if (mode !== "cold") warmUp(tokenizer); // fills the word cache
let passes = 0;
let tokens = 0;
let spent = 0;
while (spent < budgetMs) {
  if (mode === "cold") tokenizer = await api.ClipTokenizer.load();
  const start = performance.now();
  tokens += profiledLoop(tokenizer);
  spent += performance.now() - start;
  passes++;
}
process.stdout.write(`${mode}: ${passes} passes, ${(tokens / (spent / 1000) / (mode === "tokenize" ? 77 : 1)).toFixed(0)} ${mode === "tokenize" ? "rows" : "tokens"}/s\n`);
