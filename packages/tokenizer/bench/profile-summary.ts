/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time, and the most
 * inclusive ("total") time, as a share of the profile.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile | dir> [--top 25] [--filter text]
 *
 * Given a directory, it reads its busiest `.cpuprofile` (tsx runs a helper thread that writes a profile too).
 * `--filter` keeps only time spent under frames whose function name or file contains the text (e.g. `encode`).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" }, filter: { type: "string" } },
});
const target = positionals[0];
if (!target) {
  process.stderr.write("usage: profile-summary.ts <file.cpuprofile | dir> [--top 25] [--filter text]\n");
  process.exit(2);
}
const top = Number(values.top);

/** Busy (non-idle) sampled microseconds of a profile. */
function busyMicros(p: CpuProfile): number {
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  let sum = 0;
  for (let i = 0; i < p.samples.length; i++) if (!idle.has(p.samples[i]!)) sum += p.timeDeltas[i + 1] ?? 0;
  return sum;
}

/** The file itself, or in a directory the busiest profile (that mentions `--filter`, if given). */
function pickProfile(path: string, mention: string | undefined): { file: string; profile: CpuProfile } {
  const files = statSync(path).isDirectory()
    ? readdirSync(path).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(path, f))
    : [path];
  let best: { file: string; profile: CpuProfile; busy: number } | undefined;
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    if (mention && files.length > 1 && !text.includes(mention)) continue;
    const profile = JSON.parse(text) as CpuProfile;
    const busy = busyMicros(profile);
    if (!best || busy > best.busy) best = { file, profile, busy };
  }
  if (!best) throw new Error(`no .cpuprofile${mention ? ` mentioning ${mention}` : ""} in ${path}`);
  return best;
}

const { file, profile } = pickProfile(target, values.filter);

const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const node of profile.nodes) {
  byId.set(node.id, node);
  for (const child of node.children ?? []) parent.set(child, node.id);
}

// Self time per node: each sample's time delta belongs to the node that was on top of the stack.
const selfMicros = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  // timeDeltas[i] is the time *before* sample i; the next delta is the time sample i was current.
  const delta = profile.timeDeltas[i + 1] ?? 0;
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + Math.max(0, delta));
}

function shortUrl(url: string): string {
  if (!url) return "";
  const clean = url.replace(/^file:\/\//, "");
  const nm = clean.lastIndexOf("node_modules/");
  if (nm >= 0) return clean.slice(nm + "node_modules/".length);
  const pkg = clean.indexOf("/packages/");
  return pkg >= 0 ? clean.slice(pkg + 1) : basename(clean);
}

function frameKey(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  const where = frame.url ? ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : "";
  return `${name}${where}`;
}

const filter = values.filter?.toLowerCase();
function underFilter(id: number): boolean {
  if (!filter) return true;
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const frame = byId.get(cur)!.callFrame;
    if (frame.functionName.toLowerCase().includes(filter) || frame.url.toLowerCase().includes(filter)) return true;
  }
  return false;
}

const self = new Map<string, number>();
const total = new Map<string, number>();
let sum = 0;
for (const [id, micros] of selfMicros) {
  if (!underFilter(id)) continue;
  sum += micros;
  const key = frameKey(byId.get(id)!.callFrame);
  self.set(key, (self.get(key) ?? 0) + micros);
  // Inclusive time: every distinct function on the stack (recursion counted once).
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = frameKey(byId.get(cur)!.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + micros);
  }
}

const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  process.stdout.write(`| % | ms | function |\n| ---: | ---: | --- |\n`);
  for (const [key, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`| ${((100 * micros) / sum).toFixed(1)} | ${(micros / 1000).toFixed(0)} | ${key.replaceAll("|", "\\|")} |\n`);
  }
};

process.stdout.write(`${file}: ${(sum / 1000).toFixed(0)} ms sampled${filter ? ` under frames matching "${filter}"` : ""}\n`);
print(`Top ${top} by self time`, self);
print(`Top ${top} by total (inclusive) time`, total);
